"""C2SP tlog-cosignature v1 (Ed25519): a witness's statement that it checked a checkpoint against what it kept.

A cosignature is one more signed-note line on the checkpoint: `— <witness name> base64(keyid || timestamp || sig)`,
key id SHA-256(name || "\\n" || 0x04 || key)[:4], an 8-byte big-endian POSIX timestamp, and an Ed25519 signature
over "cosignature/v1\\ntime <timestamp>\\n" followed by the checkpoint's note text.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from concord.audit.note import DASH, CheckpointError, key_id, parse_verifier_key, verifier_key

COSIGNATURE_V1 = b"\x04"  # signed-note signature type of an Ed25519 cosignature/v1


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosigner signs: the header line, the time line, and the checkpoint's note text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def note_text(note: str) -> str:
    """The text of a signed note, above its blank line (ending in a newline)."""
    text, sep, _ = note.rpartition("\n\n")
    if not sep:
        raise CheckpointError("not a signed note: expected text, a blank line, then signature lines")
    return text + "\n"


@dataclass(frozen=True)
class Cosigner:
    """A witness's name and Ed25519 key; its vkey (type 0x04) is what log clients configure."""

    name: str
    key: Ed25519PrivateKey

    @property
    def vkey(self) -> str:
        return verifier_key(self.name, self.key.public_key(), COSIGNATURE_V1)

    def cosign(self, note: str, timestamp: int) -> str:
        """The signature line cosigning a checkpoint note at `timestamp` (POSIX seconds)."""
        if not 0 <= timestamp < 1 << 63:
            raise CheckpointError(f"cosignature timestamp {timestamp} is out of range")
        sig = self.key.sign(cosigned_message(note_text(note), timestamp))
        raw = key_id(self.name, self.key.public_key(), COSIGNATURE_V1) + struct.pack(">Q", timestamp) + sig
        return f"{DASH}{self.name} {base64.b64encode(raw).decode()}\n"


def add_signature(note: str, line: str) -> str:
    """The note with one more signature line (kept once)."""
    return note if line in note.split("\n\n", 1)[-1] else note + line


def verify_cosignature(note: str, cosigner_vkey: str) -> int:
    """The timestamp of the cosignature by `cosigner_vkey` on `note`; CheckpointError if none verifies."""
    name, public = parse_verifier_key(cosigner_vkey, COSIGNATURE_V1)
    want = key_id(name, public, COSIGNATURE_V1)
    text = note_text(note)
    for line in note.rpartition("\n\n")[2].split("\n"):
        signer, _, b64 = line[len(DASH):].partition(" ") if line.startswith(DASH) else ("", "", "")
        if signer != name:
            continue
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            continue
        if len(raw) != 4 + 8 + 64 or raw[:4] != want:
            continue
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        try:
            public.verify(raw[12:], cosigned_message(text, timestamp))
        except InvalidSignature:
            raise CheckpointError(f"cosignature by {name} does not verify") from None
        return timestamp
    raise CheckpointError(f"no cosignature by {name} on this note")
