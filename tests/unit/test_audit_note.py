"""Checkpoints are C2SP signed notes: they round-trip, and any change to text, key or signature is refused."""

import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from concord.audit.checkpoints import NoteSigner, load_or_create_key
from concord.audit.note import (Checkpoint, CheckpointError, key_id, open_note, parse_checkpoint, parse_verifier_key,
                                sign_note, verifier_key, verify_checkpoint)
from concord.errors import ConcordError

ORIGIN = "example.org/audit"
CP = Checkpoint(ORIGIN, 42, bytes(range(32)))


def test_a_signed_checkpoint_round_trips_in_the_c2sp_format():
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    note = signer.sign(CP)
    text, sig = note.split("\n\n")
    assert text == f"{ORIGIN}\n42\n{base64.b64encode(CP.root).decode()}"
    assert sig.startswith(f"\u2014 {ORIGIN} ") and sig.endswith("\n")
    raw = base64.b64decode(sig.split()[-1])
    assert raw[:4] == key_id(ORIGIN, signer.public_key) and len(raw) == 68
    assert verify_checkpoint(note, signer.vkey) == CP
    name, _ = parse_verifier_key(signer.vkey)
    assert name == ORIGIN


def test_changes_to_the_note_or_the_key_are_refused():
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    note = signer.sign(CP)
    other = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    for bad_note, vkey in [(note.replace("\n42\n", "\n43\n"), signer.vkey), (note, other),
                           (note[:-3] + "AA\n", signer.vkey), (note.split("\n\n")[0], signer.vkey),
                           (note.replace(ORIGIN, "evil.org/audit"), signer.vkey)]:
        with pytest.raises(CheckpointError):
            verify_checkpoint(bad_note, vkey)
    with pytest.raises(CheckpointError):
        parse_verifier_key(signer.vkey.replace("+", "+0", 1))


def test_a_witness_cosignature_does_not_disturb_verification():
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    note = signer.sign(CP) + "\u2014 witness.example.org " + base64.b64encode(bytes(72)).decode() + "\n"
    assert verify_checkpoint(note, signer.vkey) == CP


def test_checkpoint_text_is_strict():
    root = base64.b64encode(bytes(32)).decode()
    for bad in ["o\n01\nAAAA\n", "o\n1\nnot-base64\n", "o\n1\n", f"o\n-1\n{root}\n", f"o\n01\n{root}\n"]:
        with pytest.raises(CheckpointError):
            parse_checkpoint(bad)


def test_the_key_file_is_created_once_with_owner_only_permissions(tmp_path):
    path = tmp_path / "keys" / "audit.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path).public_key() == key.public_key()
    os.chmod(path, 0o644)
    with pytest.raises(ConcordError, match="chmod 600"):
        load_or_create_key(path)


def test_signatures_match_the_go_note_package_example():
    # The example key, vkey and signed note from the documentation of golang.org/x/mod/sumdb/note.
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert verifier_key("PeterNeumann", key.public_key()) == vkey
    text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    note = sign_note(text, "PeterNeumann", key)
    assert note.endswith("\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
                         "ngotpRZb6KE6RyyBwJnAM=\n")
    name, public = parse_verifier_key(vkey)
    assert open_note(note, name, public) == text
