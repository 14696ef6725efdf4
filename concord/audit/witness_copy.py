"""A witness copy: what an agency keeps of the hub's log, in a directory only the agency controls.

    vkey            the hub's verifier key, pinned once (a hub that re-signs with a new key is caught)
    checkpoint      the latest checkpoint the witness checked, with the witness's cosignature
    leaves          the leaf hash of every entry that checkpoint covers (32 bytes each)
    cosigner.key    the witness's Ed25519 key (PKCS#8 PEM, mode 0600); cosigner.name its name
"""

from __future__ import annotations

import os
from pathlib import Path

from concord.audit.checkpoints import load_or_create_key
from concord.audit.cosign import Cosigner, add_signature
from concord.audit.note import parse_verifier_key
from concord.audit.witness import WitnessReport
from concord.errors import ConcordError


class WitnessCopy:
    def __init__(self, path: Path):
        self.path = Path(path)
        if not (self.path / "vkey").exists():
            raise ConcordError(f"{self.path} is not a witness copy; create one with `concord audit witness-init`")
        self.vkey = (self.path / "vkey").read_text().strip()

    @classmethod
    def create(cls, path: Path, hub_vkey: str, name: str) -> WitnessCopy:
        """A new copy for the hub of `hub_vkey`, with a new cosigner key named `name`."""
        parse_verifier_key(hub_vkey)  # refuse a malformed key now, not at the first check
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if (path / "vkey").exists():
            raise ConcordError(f"{path} already holds a witness copy")
        load_or_create_key(path / "cosigner.key")
        (path / "cosigner.name").write_text(name + "\n")
        (path / "vkey").write_text(hub_vkey.strip() + "\n")
        return cls(path)

    @property
    def cosigner(self) -> Cosigner:
        name = (self.path / "cosigner.name").read_text().strip()
        return Cosigner(name, load_or_create_key(self.path / "cosigner.key"))

    def kept(self) -> tuple[str | None, bytes | None]:
        """The kept checkpoint note and leaf hashes; (None, None) before the first check."""
        if not (self.path / "checkpoint").exists():
            return None, None
        return (self.path / "checkpoint").read_text(), (self.path / "leaves").read_bytes()

    def keep(self, report: WitnessReport, leaves: bytes, timestamp: int) -> str:
        """After a check that passed: cosign the hub's checkpoint and keep it with its leaves; returns the line."""
        if report.status not in ("ok", "unsigned-tail"):  # a tail is not signed, but the checkpoint checked out
            raise ConcordError("a witness keeps and cosigns only a checkpoint that it checked")
        line = self.cosigner.cosign(report.checkpoint, timestamp)
        size = report.current_size or 0
        _write(self.path / "leaves", leaves[:size * 32])
        _write(self.path / "checkpoint", add_signature(report.checkpoint, line).encode())
        return line


def _write(path: Path, data: bytes) -> None:
    """Replace a file whole (write, fsync, rename): a crash leaves the old copy or the new, never half."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
