"""Issuing, revoking and checking API tokens; every one of these is an audit entry."""

import contextlib
import hashlib
import secrets
import threading

import orjson

from concord.access.identity import Subject
from concord.access.messages import IssueToken, RevokeToken
from concord.access.models import ApiToken, User
from concord.db import PLACEHOLDER
from concord.errors import NotFound, TooManyRequests, Unauthenticated
from concord.ids import new_id


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
    """Reads the token and its user on every request, on one connection per thread kept outside the pool.

    Nothing is cached, so a revocation (by the API or by `concord tokens revoke` in another process) refuses
    the very next request; but the read is one indexed statement straight to the driver, without a session,
    ORM compilation or a pool checkout, which together cost a third of a lodging over HTTP."""

    SQL = ("SELECT t.id, t.revoked_at, u.id, u.agency, u.trader_id, u.roles, u.active, a.role FROM api_tokens t "
           "JOIN users u ON u.id = t.user_id LEFT JOIN agencies a ON a.code = u.agency WHERE t.token_hash = {}")

    def __init__(self, engine):
        self.engine = engine
        self.sql = self.SQL.format(PLACEHOLDER[engine.dialect.paramstyle])
        self._local = threading.local()
        self._subjects: dict = {}

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.engine.raw_connection()
            conn.detach()  # the pool neither counts it nor resets it
            if hasattr(conn.driver_connection, "autocommit") and self.engine.dialect.name != "sqlite":
                conn.driver_connection.autocommit = True  # each read sees the latest commit
            self._local.conn = conn
        return conn

    def subject(self, digest: str) -> tuple[str | None, Subject | None]:
        """(token id, subject) for a token hash; the subject is None when the token is refused."""
        for attempt in (1, 2):
            try:
                cur = self._connection().cursor()
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
        return token_id, subject


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
