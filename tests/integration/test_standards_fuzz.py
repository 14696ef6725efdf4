"""Bad input stays bad input: malformed interchanges and certificates get clear errors, never a 5xx, and nothing
of them is stored (Hypothesis mutates the hand-written files: truncation, lost or repeated segments, wrong
counts, stray service characters, other encodings, oversized bodies, entity tricks)."""

from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.declarations.models import Declaration
from concord.errors import InvalidDocument
from concord.standards import cusres, edifact, sps

DATA = Path(__file__).resolve().parents[1] / "data"
INTERCHANGE = (DATA / "edifact" / "cusdec_d96b.edi").read_bytes()
CERTIFICATE = (DATA / "sps" / "ephyto_bananas.xml").read_bytes()
SEGMENTS = INTERCHANGE.split(b"'")


@st.composite
def mutated(draw, base: bytes, pieces: list[bytes], separator: bytes):
    kind = draw(st.sampled_from(["truncate", "drop", "repeat", "swap_char", "counts", "encoding", "bytes", "huge",
                                 "entity"]))
    if kind == "truncate":
        return base[:draw(st.integers(0, len(base)))]
    if kind in ("drop", "repeat"):
        i = draw(st.integers(0, len(pieces) - 1))
        parts = list(pieces)
        parts[i:i + 1] = [] if kind == "drop" else [parts[i], parts[i]]
        return separator.join(parts)
    if kind == "swap_char":
        i = draw(st.integers(0, len(base) - 1))
        stray = draw(st.sampled_from([b"'", b"+", b":", b"?", b"\x00", b"\xff", b"<", b"&", b"9"]))
        return base[:i] + stray + base[i + 1:]
    if kind == "counts":
        return base.replace(b"UNT+19", b"UNT+" + str(draw(st.integers(0, 99))).encode()).replace(
            b"UNZ+2", b"UNZ+" + str(draw(st.integers(0, 9))).encode())
    if kind == "encoding":
        return base.decode().encode(draw(st.sampled_from(["utf-16", "utf-32", "cp500"])))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "huge":
        return base * 6000  # over the route's bound
    return (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            + base.split(b"?>", 1)[-1].replace(b"Holland", b"&b;"))


def _count(concord) -> int:
    with concord.sessions() as s:
        return s.scalar(select(func.count()).select_from(Declaration))


@given(body=mutated(INTERCHANGE, SEGMENTS, b"'"))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_interchanges_answer_clearly_and_store_only_whole_messages(fuzz_hub, body):
    concord, client, headers = fuzz_hub
    before = _count(concord)
    r = client.post("/api/v1/edifact", content=body, headers=headers | {"Accept": "application/json"})
    assert r.status_code in (200, 413, 422), r.text
    out = r.json()
    if r.status_code == 200:
        assert _count(concord) - before == out["lodged"]
        for m in out["messages"]:
            if "id" not in m:
                error = m["error"]
                assert error["code"] != "internal" and error["message"]
                assert all(p["message"] for p in error.get("problems", []))
    else:
        assert out["error"]["message"] and _count(concord) == before
    edi = client.post("/api/v1/edifact", content=body, headers=headers)
    assert edi.status_code in (200, 413, 422)
    if edi.status_code != 413:
        assert edi.text.startswith("UNA:+.? 'UNB+") and edi.text.endswith("'")


@given(body=mutated(CERTIFICATE, CERTIFICATE.split(b"\n"), b"\n"))
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_certificates_are_refused_or_checked_never_a_5xx(fuzz_hub, body):
    concord, client, headers = fuzz_hub
    r = client.post(f"/api/v1/declarations/{concord.fuzz_declaration}/sps-certificates", content=body,
                    headers=headers | {"Content-Type": "application/xml"})
    assert r.status_code in (200, 409, 413, 422), r.text
    if r.status_code != 200:
        assert r.json()["error"]["message"]


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_random_bytes_are_rejected_as_interchanges_or_certificates(data):
    try:
        edifact.parse(edifact.decode(data))
    except edifact.InterchangeRejected as e:
        assert e.answer.faults and cusres.render(e.answer).startswith("UNA")
    try:
        sps.parse_certificate(data)
    except InvalidDocument as e:
        assert e.problems


import pytest


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory):
    """One hub for a whole fuzz run (Hypothesis calls the test many times; a fixture per call would be slow)."""
    from support import demo_config_text
    from test_sps_certificates import BANANAS

    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.clock import FixedClock
    from concord.config import Settings

    tmp = tmp_path_factory.mktemp("fuzz")
    concord = bootstrap(Settings(database_url=f"sqlite:///{tmp / 'concord.db'}", var_dir=tmp), clock=FixedClock())
    concord.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    token = concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"]
    client = TestClient(create_app(concord, background=False))
    headers = {"Authorization": f"Bearer {token}"}
    concord.fuzz_declaration = client.post("/api/v1/declarations", json=BANANAS, headers=headers).json()["id"]
    yield concord, client, headers | {"Content-Type": "application/edifact"}
    concord.close()
