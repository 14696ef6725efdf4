"""Electronic SPS certificates: parsed safely, compared with the declaration, a reason on the agency's task."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from support import declaration, item

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.clearance.models import AgencyTask
from concord.errors import InvalidDocument
from concord.standards import sps

CERT = (Path(__file__).resolve().parents[1] / "data" / "sps" / "ephyto_bananas.xml").read_bytes()
BANANAS = declaration(lrn="SPS-1", exporter={"id": "ECEXP000001", "name": "Guayaquil Banana Exporters SA",
                                             "country": "EC", "address": "Av. 9 de Octubre 100, Guayaquil"},
                      items=[item("080390", "Bananas, fresh", "EC", documents=["N851"]) | {
                          "net_mass_kg": "18000", "quantity": "18000",
                          "documents": [{"type": "N851", "reference": "EC-PHY-2026-0001"}]}])


def _headers(concord, user):
    return {"Authorization": f"Bearer {concord.bus.handle(IssueToken(user_id=user))['token']}"}


def _lodged(concord, doc=BANANAS):
    client = TestClient(create_app(concord, background=False))
    trader = _headers(concord, "hollandfoods")
    r = client.post("/api/v1/declarations", json=doc, headers=trader)
    assert r.status_code == 201, r.text
    return client, trader, r.json()["id"]


def _supply(client, trader, declaration_id, body: bytes):
    return client.post(f"/api/v1/declarations/{declaration_id}/sps-certificates", content=body,
                       headers=trader | {"Content-Type": "application/xml"})


def _sps_reasons(client, concord, user):
    tasks = client.get("/api/v1/tasks?status=all", headers=_headers(concord, user)).json()
    return [r for t in tasks["items"] for r in (t.get("reasons") or [])
            if isinstance(r, dict) and r.get("rule") == "SPS-CERTIFICATE"]


def test_a_matching_certificate_is_a_reason_on_the_nppo_task_only(concord):
    client, trader, did = _lodged(concord)
    r = _supply(client, trader, did, CERT)
    assert r.status_code == 200, r.text
    assert r.json() == {"declaration_id": did, "certificate": "EC-PHY-2026-0001", "status": "supplied"}
    (reason,) = _sps_reasons(client, concord, "nppo-officer")
    assert reason["matches"] is True and reason["findings"] == [] and reason["items"] == [0]
    assert _sps_reasons(client, concord, "vet-officer") == []  # not its task, not its reason
    # the trader who supplied it does not read the agency's findings: reasons are the agency's working data
    mine = client.get(f"/api/v1/declarations/{did}", headers=trader).text
    assert "SPS-CERTIFICATE" not in mine and "findings" not in mine


def test_a_mismatch_is_a_finding_not_a_refusal(sqlite_concord):
    client, trader, did = _lodged(sqlite_concord)
    other = (CERT.replace(b"<ram:ClassCode>080390", b"<ram:ClassCode>080310")
             .replace(b">18200<", b">25000<").replace(b"<ram:ID>EC</ram:ID></ram:OriginSPSCountry>",
                                                      b"<ram:ID>CO</ram:ID></ram:OriginSPSCountry>")
             .replace(b"Holland Foods Import B.V.", b"Rotterdam Fruit Traders"))
    assert _supply(client, trader, did, other).status_code == 200
    (reason,) = _sps_reasons(client, sqlite_concord, "nppo-officer")
    assert {f["check"] for f in reason["findings"]} == {"commodity", "origin", "net_mass", "consignee"}
    assert reason["matches"] is False
    with sqlite_concord.sessions() as s:
        assert s.scalars(select(AgencyTask.status).where(AgencyTask.agency == "NPPO")).one() != "refused"
    # supplied again (corrected): the reason is replaced, not added
    assert _supply(client, trader, did, CERT).status_code == 200
    (reason,) = _sps_reasons(client, sqlite_concord, "nppo-officer")
    assert reason["matches"] is True


def test_faults_and_scope(sqlite_concord):
    client, trader, did = _lodged(sqlite_concord)
    r = _supply(client, trader, did, CERT.replace(b"EC-PHY-2026-0001", b"EC-PHY-9999"))
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == \
        "/SPSCertificate/SPSExchangedDocument/ID"
    other_trader = _headers(sqlite_concord, "rotterdam-freight")
    assert _supply(client, other_trader, did, CERT).status_code == 404
    assert _supply(client, trader, "DCLnothere", CERT).status_code == 404
    r = _supply(client, trader, did, CERT.replace(b">18200<", b">lots<"))
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"].endswith(
        "IncludedSPSTradeLineItem[1]/NetWeightMeasure")
    assert _sps_reasons(client, sqlite_concord, "nppo-officer") == []


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b'<SPSCertificate>&lol2;</SPSCertificate>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><SPSCertificate>&xxe;'
    b'</SPSCertificate>',
    b"<SPSCertificate><SPSExchangedDocument>", b"", b"\xff\xfe<", b"<Invoice/>",
    b"<SPSCertificate><SPSExchangedDocument><ID>X</ID></SPSExchangedDocument></SPSCertificate>"])
def test_hostile_or_broken_files_are_clear_errors(body):
    with pytest.raises(InvalidDocument) as e:
        sps.parse_certificate(body)
    assert e.value.problems and "/etc/passwd" not in str(e.value.as_dict()) and "root:" not in str(e.value.as_dict())


def test_config_section_is_validated():
    from support import demo_config_text

    from concord.agencies.handlers import parse_config
    from concord.bootstrap import CONFIG_SECTIONS

    bad = demo_config_text().replace("{agency: NPPO, documents: [N851], hs_digits: 6",
                                      "{agency: NOPE, documents: [N851], hs_digits: 60")
    with pytest.raises(InvalidDocument) as e:
        parse_config(bad, sections=CONFIG_SECTIONS)
    pointers = {p.pointer for p in e.value.problems}
    assert "/sps_certificates/0/hs_digits" in pointers
