"""Issuing, revoking and checking API tokens; every one of these is an audit entry."""

import contextlib
import hashlib
import logging
import secrets
import select
import threading

import orjson

from concord.access.identity import Subject
from concord.access.messages import IssueToken, RevokeToken
from concord.access.models import ApiToken, User
from concord.driver import PLACEHOLDER
from concord.errors import NotFound, TooManyRequests, Unauthenticated
from concord.ids import new_id
from concord.listen import listen

log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(cmd: IssueToken, uow) -> dict:
    """Create a token for an active user; only its hash is stored, the token is shown once."""
    with uow:
        user = uow.session.get(User, cmd.user_id)
        if user is None or not user.active:
            raise NotFound(f"no active user '{cmd.user_id}'; users come from the coordination config")
        token = "cnc_" + secrets.token_urlsafe(32)
        row = ApiToken(id=new_id("TOK"), user_id=user.id, token_hash=token_hash(token), created_at=uow.clock.now(),
                       revoked_at=None)
        uow.session.add(row)
        uow.audit("auth:token:issued", f"user/{user.id}", detail={"token_id": row.id}, agency=user.agency)
        uow.commit()
        return {"token": token, "token_id": row.id, "user": user.id}


def revoke_token(cmd: RevokeToken, uow) -> dict:
    with uow:
        row = uow.session.get(ApiToken, cmd.token_id)
        if row is None:
            raise NotFound(f"no token '{cmd.token_id}'")
        if row.revoked_at is None:
            row.revoked_at = uow.clock.now()
            uow.audit("auth:token:revoked", f"user/{row.user_id}", detail={"token_id": row.id})
        uow.commit()
        return {"token_id": row.id, "revoked_at": row.revoked_at.isoformat()}


def subject_for(user, lead_agency: str | None) -> Subject:
    """The subject of a user row (or of any object with its id, agency, trader_id and roles)."""
    return Subject(user.id, user.agency, user.trader_id, frozenset(user.roles),
                   lead=user.agency is not None and user.agency == lead_agency)


class TokenReader:
    """The subject of a token hash: a small cache of token -> identity in front of one indexed read.

    The read goes straight to the driver on one connection per thread kept outside the pool (no session, ORM
    compilation or pool checkout). Its answer is kept for at most `ttl` seconds, and only while this process
    learns at once of every change to tokens, users or agencies, so that a revocation (by the API, by
    `concord tokens revoke` in another process, or by hand in SQL) refuses the very next request:
    - PostgreSQL: triggers on those tables send NOTIFY concord_credentials (migration 0016); a thread LISTENs
      and drops the cache. While it is not listening (start-up, a lost connection) nothing is served from cache.
    - SQLite: `PRAGMA data_version` on the reader's connection changes whenever any other connection, in this
      process or another, commits; then the cache is dropped. It costs a few microseconds and no disk read.
    Refused tokens are never cached: each is read again."""

    SQL = ("SELECT t.id, t.revoked_at, u.id, u.agency, u.trader_id, u.roles, u.active, a.role FROM api_tokens t "
           "JOIN users u ON u.id = t.user_id LEFT JOIN agencies a ON a.code = u.agency WHERE t.token_hash = {}")
    CHANNEL = "concord_credentials"

    def __init__(self, engine, ttl: float = 5.0, clock=None):
        import time

        self.engine = engine
        self.sql = self.SQL.format(PLACEHOLDER[engine.dialect.paramstyle])
        self.ttl = ttl
        self._now = clock or time.monotonic
        self._local = threading.local()
        self._subjects: dict = {}
        self._cache: dict = {}  # digest -> (token id, subject, expires)
        self._generation = 0  # bumped on every drop: a read that began before a drop is not cached
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()
        self._listening = False
        self._pending = select.poll()  # the listener's socket, once it listens
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drop(self) -> None:
        """Forget every cached identity (a token, user or agency changed)."""
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.engine.raw_connection()
            conn.detach()  # the pool neither counts it nor resets it
            if not self._sqlite:  # each read its own transaction: none left open between requests, holding back
                # vacuum (the attribute to set is dbapi_connection's: driver_connection is None once detached)
                conn.dbapi_connection.autocommit = True
            self._local.conn = conn
        return conn

    def _trusted(self, conn) -> bool:
        """Whether cached answers still hold: nothing changed that this process has not yet seen."""
        if self.ttl <= 0:
            return False
        if not self._sqlite:  # listening, and no notification arrived that the listener has not yet read
            return self._listening and not self._stop.is_set() and not self._pending.poll(0)
        cur = conn.cursor()
        cur.execute("PRAGMA data_version")
        version = cur.fetchone()[0]
        cur.close()
        if version != getattr(self._local, "version", None):  # each connection counts its own
            self._local.version = version
            self.drop()
        return True

    def subject(self, digest: str) -> tuple[str | None, Subject | None]:
        """(token id, subject) for a token hash; the subject is None when the token is refused."""
        for attempt in (1, 2):
            try:
                conn = self._connection()
                trusted = self._trusted(conn)
                if trusted and (hit := self._cache.get(digest)) is not None and hit[2] > self._now():
                    return hit[0], hit[1]
                generation = self._generation
                cur = conn.cursor()
                cur.execute(self.sql, (digest,))
                row = cur.fetchone()
                cur.close()
                break
            except Exception:  # the server went away: reconnect once
                conn, self._local.conn = getattr(self._local, "conn", None), None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                if attempt == 2:
                    raise
        if row is None:
            return None, None
        token_id, revoked_at, *user, active, agency_role = row
        if revoked_at is not None or not active:
            return token_id, None
        key = (*user[:3], user[3] if isinstance(user[3], (str, bytes)) else tuple(user[3]), agency_role)
        if (subject := self._subjects.get(key)) is None:
            user_id, agency, trader_id, roles = user
            roles = orjson.loads(roles) if isinstance(roles, (str, bytes)) else roles
            subject = Subject(user_id, agency, trader_id, frozenset(roles), lead=agency_role == "lead")
            if len(self._subjects) > 10_000:
                self._subjects.clear()
            self._subjects[key] = subject
        if trusted:
            with self._lock:
                if generation == self._generation:
                    if len(self._cache) > 10_000:
                        self._cache.clear()
                    self._cache[digest] = (token_id, subject, self._now() + self.ttl)
        return token_id, subject

    def start(self) -> "TokenReader":
        """On PostgreSQL, start listening for credential changes (the cache is used only while listening)."""
        if not self._sqlite and self.ttl > 0 and self._thread is None:
            self._stop = threading.Event()  # the thread's own: a stopped one still leaving must not be revived
            self._thread = threading.Thread(target=self._listen, args=(self._stop,), name="credentials", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listening = False
        # not joined: the thread waits up to a second for notifications, and leaves (with its connection) after it;
        # a shutdown (or each test's server) need not wait for that
        self._thread = None
        self.drop()

    def wait_listening(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the listener to be in place; whether it is."""
        import time

        deadline = time.monotonic() + timeout
        while not self._listening and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._listening

    def _listen(self, stop: threading.Event) -> None:
        def listening(conn) -> bool:
            # A request checks this socket before it trusts the cache: a notification the kernel holds but this
            # thread has not yet read (it waits for the GIL) already sends requests to the table.
            pending = select.poll()
            pending.register(conn.pgconn.socket, select.POLLIN)
            if stop.is_set() or stop is not self._stop:
                return False
            self._pending = pending
            self.drop()  # whatever changed before the LISTEN was unseen
            self._listening = True
            return True

        def lost() -> None:  # not listening: serve nothing from cache until listening again
            if stop is self._stop:
                self._listening = False
                self.drop()

        listen(self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False), self.CHANNEL,
               stop, name="credentials", listening=listening, heard=self.drop, lost=lost)


def authenticate(token: str | None, tokens: TokenReader, refusals=None, client: str = "unknown",
                 write=lambda notes: None) -> Subject:
    """The subject a bearer token stands for; a refused one is answered 401, or 429 once its client is past its limit.

    Refusals are counted per client (`refusals`: audit.summaries.Summaries) and `write` gets the audit notes to
    append: the first refusal of a client's window at once, the rest as one counted entry when the window closes,
    so a flood of bad tokens cannot grow the log by one entry per request. A valid token always passes: someone
    failing behind the same address (an office's NAT) must not lock its colleagues out; the lookup is one indexed
    read, and the log write, the costly part, is what the count saves."""
    if not token:
        raise Unauthenticated("send 'Authorization: Bearer TOKEN'; `concord tokens issue USER` prints one")
    token_id, subject = tokens.subject(token_hash(token))
    if subject is not None:
        return subject
    if refusals is None:
        raise Unauthenticated("the token is unknown, revoked, or its user is inactive")
    key = ("client", client)
    wait = refusals.retry_after(key)
    write(refusals.hit(key, token_id, limited=wait is not None))
    if wait is not None:
        raise TooManyRequests(f"too many refused tokens from this client; try again in {wait} s", wait)
    raise Unauthenticated("the token is unknown, revoked, or its user is inactive")


def log_reads(uow, reads: list, purpose: str | None) -> None:
    """Write one audit entry per cross-agency read: who read whose record, why, under which agreement."""
    if not reads:
        return
    with uow:
        for resource, decision in reads:
            kind = resource.split("/", 1)[0]
            outcome = "break-glass" if decision.basis and "break-glass:" in decision.basis else "ok"
            verb = "read"
            if not decision.allowed:  # hit / no-hit: the subject saw that the owner holds something, not what
                verb = outcome = "hit"
            uow.audit(f"{kind}:{verb}", resource, purpose=purpose, agreement=decision.agreement, outcome=outcome,
                      owner=decision.provider, detail={"basis": decision.basis})
        uow.commit()
