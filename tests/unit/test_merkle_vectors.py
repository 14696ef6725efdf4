"""Every transparency-dev style vector verifies, or fails, exactly as its wantErr says."""

import base64
import json
from pathlib import Path

import pytest

from concord.audit.merkle import ProofError, verify_consistency, verify_inclusion
from concord.audit.subtree import verify_subtree_consistency, verify_subtree_inclusion

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "merkle" / "testdata"
KINDS = ("inclusion", "consistency", "subtreeinclusion", "subtreeconsistency")
VECTORS = sorted(p for kind in KINDS for p in (TESTDATA / kind).rglob("*.json"))


def _b64(value):
    return base64.b64decode(value or "")


def _proof(v):
    return [_b64(p) for p in v["proof"] or []]


def _check(kind: str, v: dict) -> None:
    if kind == "inclusion":
        verify_inclusion(v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v), _b64(v["root"]))
    elif kind == "consistency":
        verify_consistency(v["size1"], v["size2"], _proof(v), _b64(v["root1"]), _b64(v["root2"]))
    elif kind == "subtreeinclusion":
        verify_subtree_inclusion(v["leafIdx"], v["start"], v["end"], _b64(v["leafHash"]), _proof(v), _b64(v["root"]))
    else:
        verify_subtree_consistency(v["start"], v["end"], v["size"], _proof(v), _b64(v["root1"]), _b64(v["root2"]))


@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"vectors not found at {TESTDATA}")
def test_every_vector_directory_is_covered():
    assert len(VECTORS) == sum(1 for _ in TESTDATA.rglob("*.json"))
    assert len(VECTORS) > 500


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_vector(path: Path):
    v = json.loads(path.read_text())
    kind = path.relative_to(TESTDATA).parts[0]
    if v["wantErr"]:
        with pytest.raises(ProofError):
            _check(kind, v)
    else:
        _check(kind, v)
