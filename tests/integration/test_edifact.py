"""CUSDEC in, CUSRES and CONTRL out: interchanges written by hand from the D.96B and D.21A directories."""

from pathlib import Path

from fastapi.testclient import TestClient
from pydifact.parser import Parser
from sqlalchemy import func, select
from support import declaration, item
from typer.testing import CliRunner

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.declarations.models import Declaration
from concord.declarations.schemas import parse_declaration
from concord.standards import cusdec, cusres, edifact

DATA = Path(__file__).resolve().parents[1] / "data" / "edifact"
D96B = (DATA / "cusdec_d96b.edi").read_bytes()
D21A = (DATA / "cusdec_d21a.edi").read_bytes()


def _client(concord, user="hollandfoods"):
    token = concord.bus.handle(IssueToken(user_id=user))["token"]
    return TestClient(create_app(concord, background=False)), {"Authorization": f"Bearer {token}",
                                                                "Content-Type": "application/edifact"}


def _segments(text: str):
    return [s for s in Parser().parse(text) if s.tag != "UNA"]


def _count(concord) -> int:
    with concord.sessions() as s:
        return s.scalar(select(func.count()).select_from(Declaration))


def interchange(*messages: list, reference="RT1", version="96B", syntax="UNOC:3") -> str:
    """An interchange of CUSDEC messages (inner segments), with the right counts."""
    from pydifact.control import Characters
    from pydifact.segments import Segment
    from pydifact.serializer import Serializer

    out = [Segment("UNB", syntax.split(":"), "NL823456781", "CONCORD", ["260105", "0930"], reference)]
    for n, inner in enumerate(messages, 1):
        out += [Segment("UNH", f"M{n}", ["CUSDEC", "D", version, "UN"]), *inner,
                Segment("UNT", str(len(inner) + 2), f"M{n}")]
    out.append(Segment("UNZ", str(len(messages)), reference))
    return Serializer(Characters.from_str(":+.? '")).serialize(out, with_una_header=True)


def test_an_interchange_lodges_each_message_alone_and_answers_cusres(concord):
    client, headers = _client(concord)
    r = client.post("/api/v1/edifact", content=D96B, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/edifact")
    segments = _segments(r.text)
    assert [s.tag for s in segments].count("UNH") == 2 and segments[-1].elements == ["2", segments[0].elements[4]]
    accepted, refused = [s for s in segments if s.tag == "BGM"]
    assert accepted.elements[2] == "29" and accepted.elements[1].startswith("DCL")
    assert refused.elements[1:] == ["HF-2026-0002", "27"]
    erp = next(s for s in segments if s.tag == "ERP")
    assert erp.elements[1] == ["LOC", "13"]  # the origin of the second message's item, 13th segment from UNH
    ftx = "".join(next(s for s in segments if s.tag == "FTX" and s.elements[0] == "AAO").elements[3])
    assert ftx.startswith("LOC+27 C517/3225: 'XX' is not an ISO 3166-1")
    for unh, unt in zip([s for s in segments if s.tag == "UNH"], [s for s in segments if s.tag == "UNT"]):
        assert unt.elements[1] == unh.elements[0]
    assert int(unt.elements[0]) == len(segments) - 1 - segments.index(unh)  # UNH .. UNT, UNZ excluded
    assert _count(concord) == 1  # the faulty message stored nothing
    # the lodged declaration is the one the JSON path would have lodged from the same facts
    shown = client.get(f"/api/v1/declarations/{accepted.elements[1]}", headers=headers).json()
    assert shown["document"]["items"][0]["description"] == "Bananas, fresh + green: Cavendish (grade 'A')"
    # the same interchange again: replays (same LRN), one CUSRES each, nothing new stored
    again = client.post("/api/v1/edifact", content=D96B, headers=headers | {"Accept": "application/json"}).json()
    assert again["replayed"] == 1 and again["messages"][0]["id"] == accepted.elements[1]
    problem = again["messages"][1]["error"]["problems"][0]
    assert problem == {"pointer": "/items/0/origin", "segment": "LOC+27", "position": 13, "element": "C517/3225",
                       "message": problem["message"]}
    assert _count(concord) == 1


def test_d21a_utf8_release_characters_and_decimal_commas(sqlite_concord):
    client, headers = _client(sqlite_concord)
    out = client.post("/api/v1/edifact", content=D21A, headers=headers | {"Accept": "application/json"}).json()
    assert out["lodged"] == 1, out
    shown = client.get(f"/api/v1/declarations/{out['messages'][0]['id']}", headers=headers).json()["document"]
    assert shown["exporter"]["name"] == "Exportadora Bananera Ñandú S.A. + Hijos, Av. Malecón"
    assert shown["exporter"]["address"] == "Simón Bolívar 1205: piso 3, Guayaquil"
    assert shown["items"][0]["quantity"] == "21000.5" and shown["arrival"] == "2026-01-07T08:15:00Z"
    assert shown["transport"]["containers"] == ["MSCU1234566", "TGHU7654320"]


def test_round_trip_keeps_every_field():
    special = declaration(lrn="RT?+:'-1", destination_country="NL", items=[
        item("080390", "Bananas ?+:' " + "x" * 400, "EC", documents=["N851", "C640"]),
        item("610910", "T-shirts", "BD")])
    special["exporter"]["name"] = "N" * 200
    special["exporter"]["address"] = "Straße 1+2: 'the' yard? " * 12
    for doc in (declaration(), special):
        want = parse_declaration(doc).model_dump(mode="json")
        for version in edifact.VERSIONS:
            text = interchange(cusdec.from_document(want), version=version)
            answer, messages = edifact.parse(edifact.decode(text.replace("UNOC", "UNOW").encode()))
            assert answer.faults == [] and len(messages) == 1
            reading = cusdec.to_document(messages[0][1])
            assert reading.faults == []
            assert parse_declaration(reading.document).model_dump(mode="json") == want


def test_latin1_interchange_is_read_in_its_declared_charset(sqlite_concord):
    doc = parse_declaration(declaration(lrn="L1")).model_dump(mode="json")
    doc["exporter"]["name"] = "Exportadora Ñandú"
    body = interchange(cusdec.from_document(doc)).encode("latin-1")
    answer, messages = edifact.parse(edifact.decode(body))
    assert cusdec.to_document(messages[0][1]).document["exporter"]["name"] == "Exportadora Ñandú"
    bad = body.replace(b"UNOC", b"UNOW")  # declared UTF-8, sent Latin-1
    client, headers = _client(sqlite_concord)
    r = client.post("/api/v1/edifact", content=bad, headers=headers)
    assert r.status_code == 422 and "UCI+" in r.text and "UCS+0+21" in r.text and _count(sqlite_concord) == 0
    r = client.post("/api/v1/edifact", content=bad, headers=headers | {"Accept": "application/json"})
    assert r.status_code == 422 and "is not UNOW" in r.json()["error"]["problems"][0]["message"]


def test_envelope_counts_and_references(sqlite_concord):
    client, headers = _client(sqlite_concord)
    good = cusdec.from_document(parse_declaration(declaration(lrn="E1")).model_dump(mode="json"))
    other = cusdec.from_document(parse_declaration(declaration(lrn="E2")).model_dump(mode="json"))
    text = interchange(good, other)
    # UNZ counts 3 messages: the interchange is rejected whole, nothing lodged
    r = client.post("/api/v1/edifact", content=text.replace("UNZ+2+RT1", "UNZ+3+RT1"), headers=headers)
    assert r.status_code == 422 and "CONTRL:D:3:UN" in r.text and "UCI+RT1+" in r.text and "+4'" in r.text
    # UNZ's reference is not UNB's
    r = client.post("/api/v1/edifact", content=text.replace("UNZ+2+RT1", "UNZ+2+RT9"), headers=headers)
    assert r.status_code == 422 and "UCS+" in r.text and "+28'" in r.text
    # truncated: no UNZ
    r = client.post("/api/v1/edifact", content=text[:text.index("UNZ")], headers=headers)
    assert r.status_code == 422
    assert _count(sqlite_concord) == 0
    # the first message's UNT miscounts: that message fails in the CONTRL, the second is lodged
    first_unt = text.index("UNT+")
    bad = text[:first_unt] + "UNT+99" + text[text.index("+M1'", first_unt):]
    r = client.post("/api/v1/edifact", content=bad, headers=headers)
    assert r.status_code == 200, r.text
    assert "UCM+M1+CUSDEC:D:96B:UN+4+29'" in r.text and "CUSRES" in r.text and _count(sqlite_concord) == 1
    # UNT's reference is not UNH's: code 28 for that message alone (the other is a replay of E2)
    count = text[first_unt + 4:text.index("+M1'", first_unt)]
    bad = text.replace(f"UNT+{count}+M1'", f"UNT+{count}+MX'", 1)
    out = client.post("/api/v1/edifact", content=bad, headers=headers | {"Accept": "application/json"}).json()
    assert [(f["message"], f["code"]) for f in out["syntax_faults"]] == [("M1", "28")]
    assert out["replayed"] == 1 and out["failed"] == 1 and _count(sqlite_concord) == 1


def test_conversion_faults_name_the_segment(sqlite_concord):
    doc = parse_declaration(declaration(lrn="F1")).model_dump(mode="json")
    from pydifact.segments import Segment

    segments = cusdec.from_document(doc)
    moa = next(n for n, s in enumerate(segments) if s.tag == "MOA")
    segments.insert(moa, Segment("GIS", "23"))  # a segment of the directory that Concord does not read
    text = interchange(segments).replace("TDT+11++1", "TDT+11++9").replace("BGM+929", "BGM+999")
    client, headers = _client(sqlite_concord)
    out = client.post("/api/v1/edifact", content=text, headers=headers | {"Accept": "application/json"}).json()
    problems = out["messages"][0]["error"]["problems"]
    where = {(p["segment"], p["pointer"]) for p in problems}
    assert ("BGM+999", "/type") in where and ("TDT+11", "/transport/mode") in where and ("GIS+23", "/items/0") in where
    assert _count(sqlite_concord) == 0


def test_only_traders_lodge_and_the_cli_answers_the_same(sqlite_concord, tmp_path, monkeypatch):
    client, headers = _client(sqlite_concord, "cus-officer")
    assert client.post("/api/v1/edifact", content=D96B, headers=headers).status_code == 403
    from concord.cli import app

    monkeypatch.setenv("CONCORD_DATABASE_URL", sqlite_concord.settings.database_url)
    file = tmp_path / "in.edi"
    file.write_bytes(D21A)
    r = CliRunner().invoke(app, ["declarations", "lodge", "--edifact", str(file), "--as", "hollandfoods"])
    assert r.exit_code == 0, r.output
    segments = _segments(r.stdout)
    assert [s.elements[2] for s in segments if s.tag == "BGM"] == ["29"] and _count(sqlite_concord) == 1
    file.write_bytes(D21A.replace(b"UNZ+1", b"UNZ+2"))
    r = CliRunner().invoke(app, ["declarations", "lodge", "--edifact", str(file), "--as", "hollandfoods"])
    assert r.exit_code == 2 and "CONTRL" in r.stdout and "rejected" in r.stderr


def test_status_changes_render_as_cusres():
    text = cusres.status_cusres("DCL1", "HF-1", "refused", "the certificate does not match ?+:'")
    segments = _segments(text)
    assert [s.tag for s in segments] == ["UNB", "UNH", "BGM", "RFF", "RFF", "GIS", "FTX", "UNT", "UNZ"]
    assert segments[2].elements == ["962", "DCL1", "27"] and segments[5].elements == [["refused", "ZZZ"]]
    assert segments[6].elements[3] == "the certificate does not match ?+:'"
    assert segments[7].elements == ["7", "1"]


def test_a_una_with_other_service_characters_is_honoured():
    text = D96B.decode().replace("UNA:+.? '", "UNA:*.? '").replace("+", "*")  # ?+ becomes ?* : still released
    answer, messages = edifact.parse(edifact.decode(text.encode()))
    assert answer.faults == [] and [ref for ref, _ in messages] == ["M1", "M2"]
    doc = cusdec.to_document(messages[0][1]).document
    assert doc["items"][0]["description"] == "Bananas, fresh * green: Cavendish (grade 'A')"
