"""C2SP signed notes and tlog checkpoints, Ed25519 only: the format other agencies' tooling already reads."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from concord.errors import ConcordError

ED25519 = b"\x01"  # signed-note signature type for Ed25519
DASH = "\u2014 "  # signature lines start with an em dash and a space


class CheckpointError(ConcordError):
    """A checkpoint or its signature is malformed or does not verify."""

    status = 422
    code = "bad_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The note text: origin, size and base64 root hash, one per line."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def as_dict(self) -> dict:
        return {"origin": self.origin, "size": self.size, "root": base64.b64encode(self.root).decode()}


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public: Ed25519PublicKey, sig_type: bytes = ED25519) -> bytes:
    """The 4-byte key hash that prefixes signatures: SHA-256(name || \\n || type || key)[:4] (type 0x01: Ed25519)."""
    return hashlib.sha256(name.encode() + b"\n" + sig_type + raw_public(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey, sig_type: bytes = ED25519) -> str:
    """The vkey string another agency configures: name+hex(keyid)+base64(type || key)."""
    return (f"{name}+{key_id(name, public, sig_type).hex()}+"
            f"{base64.b64encode(sig_type + raw_public(public)).decode()}")


def parse_verifier_key(vkey: str, sig_type: bytes = ED25519) -> tuple[str, Ed25519PublicKey]:
    """Parse a vkey string into its name and public key; the embedded key id must match."""
    try:
        name, kid, material = vkey.strip().split("+", 2)  # base64 may itself hold "+"
        raw = base64.b64decode(material, validate=True)
        if raw[:1] != sig_type or len(raw) != 33:
            raise ValueError(f"not a key of signature type 0x{sig_type.hex()}")
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, binascii.Error) as exc:
        raise CheckpointError(f"bad verifier key {vkey!r}: expected name+keyid+base64 ({exc})") from None
    if key_id(name, public, sig_type).hex() != kid:
        raise CheckpointError(f"verifier key {vkey!r}: key id does not match the key")
    return name, public


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """Sign note text (ending in a newline) and return the signed note."""
    sig = key_id(name, key.public_key()) + key.sign(text.encode())
    return f"{text}\n{DASH}{name} {base64.b64encode(sig).decode()}\n"


def open_note(note: str, name: str, public: Ed25519PublicKey) -> str:
    """Return the text of a signed note after checking a signature by (name, key); raise CheckpointError."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise CheckpointError("not a signed note: expected text, a blank line, then signature lines")
    text += "\n"
    want = key_id(name, public)
    for line in sigs[:-1].split("\n"):
        if not line.startswith(DASH):
            raise CheckpointError(f"bad signature line {line!r}")
        signer, _, b64 = line[len(DASH):].partition(" ")
        try:
            sig = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise CheckpointError(f"bad signature encoding on line {line!r}") from None
        if signer != name or sig[:4] != want:
            continue  # someone else's signature (a witness cosignature, say): not ours to check
        try:
            public.verify(sig[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError(f"signature by {name} does not verify") from None
        return text
    raise CheckpointError(f"no signature by {name} on this note")


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (origin, size, root; extension lines are ignored)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("a checkpoint has origin, size and root hash lines, each ending in a newline")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise CheckpointError(f"checkpoint size {size!r} is not a decimal number")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 32:
        raise CheckpointError(f"checkpoint root {root!r} is not a base64 SHA-256 hash")
    return Checkpoint(origin, int(size), digest)


def verify_checkpoint(note: str, vkey: str) -> Checkpoint:
    """Check a signed checkpoint against a verifier key; the origin must be the key's name."""
    name, public = parse_verifier_key(vkey)
    cp = parse_checkpoint(open_note(note, name, public))
    if cp.origin != name:
        raise CheckpointError(f"checkpoint origin {cp.origin!r} is not the key name {name!r}")
    return cp
