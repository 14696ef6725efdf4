"""The hub's signing key and the checkpointer that signs a new tree head whenever the log has grown."""

from __future__ import annotations

import logging
import os
import stat
import threading
from contextlib import nullcontext
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                          load_pem_private_key)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from concord.audit.models import AuditCheckpoint, AuditHead
from concord.audit.note import Checkpoint, sign_note, verifier_key
from concord.audit.tree import covered_size, extend_tree, load_tree, store_nodes
from concord.clock import Clock
from concord.errors import ConcordError

log = logging.getLogger(__name__)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Load the Ed25519 key from `path`, creating it (mode 0600) on first start."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        try:  # O_EXCL: two processes starting together must not each write their own key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key(path)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        log.info("created audit signing key %s", path)
        return key
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ConcordError(f"audit key {path} is readable by others; run `chmod 600 {path}`")
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConcordError(f"audit key {path} is not an Ed25519 private key")
    return key


class NoteSigner:
    """Signs checkpoints as `origin`; the origin is also the signed-note key name."""

    def __init__(self, origin: str, key: Ed25519PrivateKey):
        self.origin, self._key = origin, key
        self.public_key = key.public_key()
        self.vkey = verifier_key(origin, self.public_key)

    def sign(self, cp: Checkpoint) -> str:
        """The signed note for a checkpoint."""
        return sign_note(cp.body(), self.origin, self._key)


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The most recent stored checkpoint row, if any."""
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)).first()


class Checkpointer:
    """Extends the stored tree to the log head and signs a checkpoint for it, in one transaction."""

    def __init__(self, session_factory: sessionmaker, signer: NoteSigner, clock: Clock, *,
                 write_lock: threading.Lock | None = None, state=None):
        self._factory, self.signer, self.clock = session_factory, signer, clock
        self._lock = write_lock or nullcontext()
        self.state = state  # signer.SignerState: the last checkpoint signed, kept outside the database
        self._issuing = threading.Lock()  # one issuer per process; other processes lose on the primary key

    def issue(self) -> Checkpoint | None:
        """Sign a checkpoint for the current log size; None when the log has not grown.

        The tree is read and hashed outside the write lock (committed entries never change, and this is the
        only writer of nodes here); the lock is held only to insert nodes and checkpoint. Holding it throughout
        stalled every lodging behind each second's hashing."""
        with self._issuing, self._factory() as session:
            last = covered_size(session)
            head = session.scalar(select(AuditHead.size).where(AuditHead.id == 1)) or 0
            if self.state is not None:
                self.state.check(session, last)  # raises SignerRefused: the stored tree no longer extends ours
            if head <= last:
                return None
            tree = load_tree(session, last)
            nodes = extend_tree(session, tree, head)
            session.rollback()  # end the read transaction before waiting for the write lock
            cp = Checkpoint(self.signer.origin, head, tree.root())
            note = self.signer.sign(cp)
            with self._lock:
                try:
                    store_nodes(session, nodes)
                    session.add(AuditCheckpoint(size=head, root=cp.root, issued_at=self.clock.now(), note=note))
                    session.commit()
                except (IntegrityError, OperationalError) as exc:
                    # Another process checkpointed the same stretch first (or held the lock): its checkpoint stands.
                    session.rollback()
                    log.info("checkpoint at %d not written: %s", head, exc.__class__.__name__)
                    return None
            if self.state is not None:
                self.state.keep(note)
            return cp

    def run_every(self, seconds: float) -> Ticker:
        """Start a daemon thread that issues a checkpoint every `seconds` while entries arrive."""
        return Ticker(self.issue, seconds).start()


class Ticker:
    """A background thread calling `fn` every `seconds` until stop(); failures are logged, not fatal."""

    def __init__(self, fn, seconds: float):
        self._fn, self._seconds = fn, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpointer", daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._fn()
            except Exception:  # a failed tick must not end checkpointing; the next tick retries
                log.exception("audit checkpoint failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, then issue one last checkpoint so nothing appended before shutdown is left unsigned."""
        self._stop.set()
        self._thread.join(timeout)
        try:
            self._fn()
        except Exception:
            log.exception("final audit checkpoint failed")


def hub_vkey(settings) -> str:
    """The hub's verifier key: CONCORD_AUDIT_VKEY, else derived from the key file where this process may read it,
    else the public file the signer wrote beside it; never creates a key (a verifier must not mint keys)."""
    if settings.audit_vkey:
        return settings.audit_vkey.strip()
    path, public = settings.resolved_audit_key_file(), settings.resolved_audit_vkey_file()
    if path.exists() and os.access(path, os.R_OK):
        return verifier_key(settings.audit_origin, load_or_create_key(path).public_key())
    if public.exists():
        return public.read_text().strip()
    raise ConcordError(f"no audit key at {path} (or none this process may read); pass the hub's verifier key "
                       "with --key or CONCORD_AUDIT_VKEY")


def signer_from_settings(settings) -> NoteSigner:
    """The hub's signer: origin and key file from the settings (the key is created on first start).

    Its verifier key is written beside it (public), for processes that may not read the key itself."""
    signer = NoteSigner(settings.audit_origin, load_or_create_key(settings.resolved_audit_key_file()))
    public = settings.resolved_audit_vkey_file()
    if not public.exists() or public.read_text().strip() != signer.vkey:
        tmp = public.with_suffix(".vkey.tmp")
        tmp.write_text(signer.vkey + "\n")
        tmp.chmod(0o644)
        tmp.replace(public)
    return signer
