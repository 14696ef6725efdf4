"""C2SP tlog-cosignature v1: the line's layout, the signed message, and refusal of anything changed."""

import base64
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from concord.audit.checkpoints import NoteSigner
from concord.audit.cosign import COSIGNATURE_V1, Cosigner, add_signature, cosigned_message, verify_cosignature
from concord.audit.note import Checkpoint, CheckpointError, key_id, parse_verifier_key, verify_checkpoint

ORIGIN = "example.com/behind-the-sofa"
CP = Checkpoint(ORIGIN, 20852163, base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))


def test_the_spec_example_cosignature_has_the_layout_we_write():
    # From tlog-cosignature.md: key id, then the big-endian timestamp of its "time 1679315147" example, then 64 bytes.
    raw = base64.b64decode("jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
                           "qhf5nNo0xUe+mbIUBkBIfZ+qnA==")
    assert len(raw) == 4 + 8 + 64 and struct.unpack(">Q", raw[4:12])[0] == 1679315147


def test_the_signed_message_is_the_header_the_time_and_the_note_text():
    assert cosigned_message(CP.body(), 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")


def test_a_cosignature_round_trips_beside_the_log_signature():
    log = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    witness = Cosigner("witness.example.com/w1", Ed25519PrivateKey.generate())
    note = log.sign(CP)
    line = witness.cosign(note, 1679315147)
    raw = base64.b64decode(line.split()[-1])
    assert raw[:4] == key_id(witness.name, witness.key.public_key(), COSIGNATURE_V1) and raw[:4] != key_id(
        witness.name, witness.key.public_key())
    cosigned = add_signature(note, line)
    assert add_signature(cosigned, line) == cosigned  # kept once
    assert verify_cosignature(cosigned, witness.vkey) == 1679315147
    assert verify_checkpoint(cosigned, log.vkey) == CP  # the log's signature still verifies
    name, _ = parse_verifier_key(witness.vkey, COSIGNATURE_V1)
    assert name == witness.name
    with pytest.raises(CheckpointError):
        parse_verifier_key(witness.vkey)  # a cosigner key is not a log key


def test_a_changed_checkpoint_time_or_key_is_refused():
    log = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    witness = Cosigner("witness.example.com/w1", Ed25519PrivateKey.generate())
    cosigned = add_signature(log.sign(CP), witness.cosign(log.sign(CP), 1700000000))
    other = Cosigner("witness.example.com/w1", Ed25519PrivateKey.generate())
    for bad, vkey in [(cosigned.replace("\n20852163\n", "\n20852164\n"), witness.vkey), (cosigned, other.vkey),
                      (log.sign(CP), witness.vkey)]:
        with pytest.raises(CheckpointError):
            verify_cosignature(bad, vkey)
    line = cosigned.splitlines()[-1]
    raw = bytearray(base64.b64decode(line.split()[-1]))
    raw[11] ^= 1  # another time than the one signed
    forged = cosigned.replace(line, line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode())
    with pytest.raises(CheckpointError):
        verify_cosignature(forged, witness.vkey)
