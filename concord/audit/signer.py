"""The signer's memory: the last checkpoint it signed, kept beside its key, outside the database it signs.

Write access to the database is not enough to get a forged history signed: before each checkpoint the signer
checks that the stored tree still has, at the size it last signed, the root it signed; a database whose history
was rewritten, rolled back, or whose checkpoints were removed gets no new signature. Run apart from the web process
(`concord audit sign`, as a user who alone can read the key), a compromised web process cannot sign at all.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.orm import Session

from concord.audit.note import Checkpoint, CheckpointError, verify_checkpoint
from concord.audit.tree import root_at
from concord.errors import ConcordError

log = logging.getLogger(__name__)


class SignerRefused(ConcordError):
    """The database no longer extends the last checkpoint this signer signed: it signs nothing more."""

    status = 409
    code = "signer_refused"


class SignerState:
    def __init__(self, path: Path, vkey: str):
        self.path, self.vkey = Path(path), vkey

    def last(self) -> Checkpoint | None:
        """The last checkpoint signed (its signature checked with our own key), or None before the first."""
        if not self.path.exists():
            return None
        try:
            return verify_checkpoint(self.path.read_text(), self.vkey)
        except CheckpointError as exc:
            raise SignerRefused(f"the signer's state {self.path} does not verify with its key ({exc.message}); "
                                "restore it or move it aside once you have checked the log") from None

    def check(self, session: Session, covered: int) -> None:
        """Refuse to sign on top of a stored tree that does not hold, at our last size, the root we signed.

        A signer without a state yet (its first run on an existing log) adopts the latest stored checkpoint that
        its own key signed: from then on, that is what the database must keep extending."""
        kept = self.last()
        if kept is None:
            self._adopt(session)
            return
        if kept.size == 0:
            return
        if covered < kept.size:
            raise SignerRefused(f"this signer signed {kept.size} entries but the database's checkpoints cover only "
                                f"{covered}: checkpoints were removed or the log rolled back; "
                                "run `concord audit verify`")
        if root_at(session, kept.size) != kept.root:
            raise SignerRefused(f"the stored tree at {kept.size} entries is not the one this signer signed: "
                                "history was rewritten; run `concord audit verify`")

    def _adopt(self, session: Session) -> None:
        from concord.audit.checkpoints import latest_checkpoint

        row = latest_checkpoint(session)
        if row is None:
            return
        try:
            verify_checkpoint(row.note, self.vkey)
        except CheckpointError as exc:
            raise SignerRefused(f"the latest stored checkpoint ({row.size}) is not signed by this signer's key "
                                f"({exc.message}); run `concord audit verify --key` with the key you trust") from None
        self.keep(row.note)

    def keep(self, note: str) -> None:
        """Remember a checkpoint just signed (replaced whole: a crash leaves the old one or the new)."""
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(note)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def checkpointer_for(settings, sessions, clock, write_lock=None):
    """The hub's checkpointer: an external signer remembers what it signed (a state file per database), the
    embedded one does not (`make demo` recreates its database under the same key)."""
    from concord.audit.checkpoints import Checkpointer, signer_from_settings

    signer = signer_from_settings(settings)
    state = SignerState(settings.resolved_audit_state_file(), signer.vkey) if settings.audit_signer == "external" \
        else None
    return Checkpointer(sessions, signer, clock, write_lock=write_lock, state=state)


def kept_checkpoint(settings, vkey: str) -> Checkpoint | None:
    """The signer's last checkpoint, where this process may read it (verify checks the log against it)."""
    path = settings.resolved_audit_state_file()
    if not (path.exists() and os.access(path, os.R_OK)):
        return None
    try:
        return verify_checkpoint(path.read_text(), vkey)
    except CheckpointError:
        log.warning("the signer's state %s does not verify with the key given; not used", path)
        return None
