"""Party screening in the hub: stored lists, declaration parties, decisions on matches, hit / no-hit sharing."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

import concord.risk.models  # noqa: F401 - the tables, until the migration that creates them is generated
import concord.screening.models  # noqa: F401
from concord.agreements.messages import DecideAccessRequest, DraftAgreement, RequestAccess, SignAgreement
from concord.audit.models import AuditEntry
from concord.db import Base
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound
from concord.risk.messages import AddWatchlistEntry, RemoveWatchlistEntry
from concord.screening.lists import read_rows
from concord.screening.messages import LoadScreeningList, RecordMatchDecision, ScreenName
from support import declaration, subjects

POLICE_LIST = """id,full_name,aliases,date_of_birth,nationality
POL-1,Viktor Anatolyevich BOUT,Victor Bout;Viktor But,1967-01-13,RU
POL-2,Oceanic Shadow Shipping Ltd,,,PA
POL-3,Marisol Ortega Quintana,,1979-04-02,CO
"""
SANCTIONS = """full_name,nationality
Global Arms Trading LLC,AE
"""
SHADY = {"id": "PA0001", "name": "Oceanic Shadow Shiping Limited", "country": "PA", "address": "Calle 50, Panama"}
ARMS = {"id": "AE0002", "name": "Global Arms Tradng L.L.C.", "country": "AE", "address": "Jebel Ali, Dubai"}
ACCESS = {"key": "MOU-POL-CUS-WATCH", "title": "Police watchlist for customs screening", "provider": "POL",
          "recipients": ["CUS"], "purposes": ["security_screening"], "legal_basis": "Police Data Act, Art. 16",
          "scopes": [{"resource": "watchlist_entry", "fields": ["/entry_id", "/name", "/score"]}],
          "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2027-01-01T00:00:00+00:00"}


@pytest.fixture
def hub(concord, tmp_path):
    Base.metadata.create_all(concord.engine)
    load(concord, tmp_path, POLICE_LIST)
    return concord


def as_(app, user, command):
    return app.bus.handle(command, subject=subjects(app)[user])


def load(app, tmp_path, text, name="POL organised crime", owner="POL", sharing=None, user="admin"):
    path = tmp_path / f"{name.replace(' ', '-')}.csv"
    path.write_text(text)
    return as_(app, user, LoadScreeningList(name=name, owner_agency=owner, sharing=sharing, source=path.name,
                                            records=read_rows(path)))


def reasons(app, doc) -> list[dict]:
    app.bus.deps["screening"].invalidate()  # a list changed in this process: recheck before screening
    with app.sessions() as s:
        return app.bus.deps["screening"].screen_parties(s, doc)


def test_lists_load_as_versions_and_keep_entry_ids(hub, tmp_path):
    changed = POLICE_LIST.replace("1979-04-02", "1979-04-03").replace("POL-2,Oceanic Shadow Shipping Ltd,,,PA\n", "")
    again = load(hub, tmp_path, changed + "POL-4,Jan de Smokkelaar,,,NL\n")
    assert (again["version"], again["added"], again["changed"], again["removed"], again["unchanged"]) == (2, 1, 1, 1, 1)
    assert again["sharing"] == "hit_no_hit"  # a new list shares hit / no-hit, and a reload keeps the list's rule
    assert load(hub, tmp_path, changed, sharing="full")["sharing"] == "full"
    assert load(hub, tmp_path, changed)["sharing"] == "full"
    with pytest.raises(Conflict):  # another agency's list is not taken over by loading under its name
        load(hub, tmp_path, POLICE_LIST, owner="CUS")
    with pytest.raises(Forbidden):
        load(hub, tmp_path, POLICE_LIST, user="pol-officer")
    with pytest.raises(InvalidDocument) as e:
        load(hub, tmp_path, POLICE_LIST, owner="XYZ")
    assert e.value.problems[0].pointer == "/owner_agency"
    with pytest.raises(InvalidDocument) as e:
        load(hub, tmp_path, "id,full_name\nA,Some Name\nB,\nA,Other Name\n", name="broken")
    assert [p.pointer for p in e.value.problems] == ["/records/1/name"]
    with pytest.raises(InvalidDocument) as e:
        load(hub, tmp_path, "id,full_name\nA,Some Name\nA,Other Name\n", name="broken")
    assert [p.pointer for p in e.value.problems] == ["/records/1/id"]
    with hub.sessions() as s:
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "screening:list:loaded")) is not None


def test_parties_screened_cleared_and_raised_again_when_either_side_changes(hub, tmp_path):
    load(hub, tmp_path, SANCTIONS, name="EU sanctions", owner="CUS", sharing="full")
    assert reasons(hub, declaration()) == []
    found = reasons(hub, declaration(exporter=ARMS))
    assert len(found) == 1
    arms = found[0]
    assert arms["party"] == "/exporter" and arms["list"] == "EU sanctions" and arms["owner_agency"] == "CUS"
    assert arms["score"] >= 0.95 and arms["force_lane"] == "red" and arms["explanation"]["name"]

    shady = reasons(hub, declaration(exporter=SHADY))[0]
    # POL shares its list as hit / no-hit, and the lead agency (CUS) assesses: no details in the reason.
    assert shady["hit"] is True and shady["ask_agency"] == "POL" and "score" not in shady and "explanation" not in shady
    assert shady["force_lane"] == "red" and shady["entry_ref"] == f"watchlist_entry/{shady['entry_id']}"
    weak = reasons(hub, declaration(importer=SHADY | {"name": "Victor But", "country": "NL"}))
    assert [r["party"] for r in weak] == ["/importer"] and weak[0]["force_lane"] is None

    with pytest.raises(NotFound):  # customs sees only the hit: answered as for a missing entry (no oracle)
        as_(hub, "cus-officer", RecordMatchDecision(fingerprint=shady["fingerprint"], entry_id=shady["entry_id"],
                                                    decision="false_positive", reason="another company"))
    decided = as_(hub, "pol-officer", RecordMatchDecision(
        fingerprint=shady["fingerprint"], entry_id=shady["entry_id"], decision="false_positive",
        reason="a Panamanian namesake, registered 2019"))
    assert decided["decision"] == "false_positive" and decided["agency"] == "POL"
    assert reasons(hub, declaration(exporter=SHADY)) == []  # cleared: not raised again
    moved = reasons(hub, declaration(exporter=SHADY | {"id": "PA0009"}))  # the party changed
    assert [r["entry_id"] for r in moved] == [shady["entry_id"]] and moved[0]["fingerprint"] != shady["fingerprint"]

    load(hub, tmp_path, POLICE_LIST.replace("Shipping Ltd,,,PA", "Shipping Ltd,Shadow Ocean Lines,,PA"))
    again = reasons(hub, declaration(exporter=SHADY))  # the entry changed: a new version, raised again
    assert [r["entry_id"] for r in again] == [shady["entry_id"]] and again[0]["fingerprint"] != shady["fingerprint"]
    with pytest.raises(Conflict):  # a decision on the version the officer saw, not on the new one
        as_(hub, "pol-officer", RecordMatchDecision(
            fingerprint=again[0]["fingerprint"], entry_id=shady["entry_id"], decision="true_match",
            reason="checked again", entry_version="0" * 16))
    with pytest.raises(InvalidDocument) as e:
        as_(hub, "pol-officer", RecordMatchDecision(fingerprint="xyz", entry_id=shady["entry_id"],
                                                    decision="maybe", reason=""))
    assert {p.pointer for p in e.value.problems} == {"/fingerprint", "/decision", "/reason"}
    with hub.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "screening:decision:recorded")).one()
        assert entry.owner == "POL" and entry.resource == shady["entry_ref"]


def screen(app, user, name, purpose=None, **qualifiers):
    return as_(app, user, ScreenName(query={"name": name, **qualifiers}, purpose=purpose))["matches"]


def test_other_agencies_see_hit_no_hit_unless_an_agreement_or_a_grant_allows(hub):
    [hit] = screen(hub, "cus-officer", "Viktor But", date_of_birth="1967-01-13")
    assert hit["view"] == "hit" and hit["ask_agency"] == "POL" and set(hit) == {
        "hit", "list_id", "list", "owner_agency", "entry_ref", "fingerprint", "view", "ask_agency"}
    [own] = screen(hub, "pol-officer", "Viktor But", date_of_birth="1967-01-13")
    assert own["view"] == "full" and own["name"] in ("Viktor But", "Viktor Anatolyevich BOUT") and own["score"] > 0.9
    assert own["birth_dates"] == ["1967-01-13"] and own["access_basis"] == "own-agency"

    a = as_(hub, "pol-liaison", DraftAgreement(document=ACCESS))
    as_(hub, "pol-liaison", SignAgreement(agreement_id=a["id"]))
    as_(hub, "cus-liaison", SignAgreement(agreement_id=a["id"]))
    [shared] = screen(hub, "cus-officer", "Viktor But", "security_screening", date_of_birth="1967-01-13")
    assert shared["view"] == "partial" and shared["entry_id"] == own["entry_id"] and "birth_dates" not in shared
    assert shared["access_basis"] == "agreement:MOU-POL-CUS-WATCH/v1" and shared["score"] == own["score"]
    assert screen(hub, "cus-officer", "Viktor But", "revenue_control")[0]["view"] == "hit"  # another purpose
    assert screen(hub, "cus-officer", "Holland Foods Import BV") == []

    [marisol] = screen(hub, "fda-officer", "Marisol Ortega")
    request = as_(hub, "fda-officer", RequestAccess(resource=marisol["entry_ref"], provider=marisol["ask_agency"],
                                                    purpose="public_health",
                                                    justification="importer contact named on a food alert"))
    assert request["provider"] == "POL"
    as_(hub, "pol-liaison", DecideAccessRequest(request_id=request["id"], grant=True, reason="ok", hours=24))
    [granted] = screen(hub, "fda-officer", "Marisol Ortega")
    assert granted["view"] == "full" and granted["access_basis"].startswith("grant:")
    with hub.sessions() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.like("watchlist_entry:%"))).all()
        assert {(r.action, r.agency, r.owner, r.agreement) for r in rows} >= {
            ("watchlist_entry:hit", "CUS", "POL", None),
            ("watchlist_entry:read", "CUS", "POL", "MOU-POL-CUS-WATCH/v1")}
        body = s.scalar(select(AuditEntry.body).where(AuditEntry.action == "screening:name:screened"))
        detail = json.loads(body)["detail"]  # a digest of the screened name, never the name itself
        assert len(detail["query_sha256"]) == 64 and "Viktor" not in body


def test_bad_queries_point_at_the_field(hub):
    with pytest.raises(InvalidDocument) as e:
        as_(hub, "cus-officer", ScreenName(query={"country": "Atlantis", "date_of_birth": "13/01/1967"}))
    assert {p.pointer for p in e.value.problems} == {"/name", "/country", "/date_of_birth"}
    with pytest.raises(Forbidden):
        as_(hub, "hollandfoods", ScreenName(query={"name": "Viktor Bout"}))


def test_agency_watchlist_party_entries_are_screened_by_name(hub):
    later = (hub.clock.now() + timedelta(days=30)).isoformat()
    entry = as_(hub, "mar-officer", AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Blue Horizon Maritime SA", "country": "PA"},
        "reason": "ship-to-ship transfers of sanctioned oil", "severity": "medium", "expires_at": later}))
    found = reasons(hub, declaration(exporter=SHADY | {"name": "Blue Horizon Maritime S.A."}))
    assert [(r["entry_id"], r["list"], r["owner_agency"]) for r in found] == [
        (entry["id"], "MAR watchlist", "MAR")]
    assert found[0]["force_lane"] == "yellow"  # a medium-severity entry does not force red
    assert found[0]["reason"] == "ship-to-ship transfers of sanctioned oil"  # shared with the lead's assessment
    [seen] = screen(hub, "mar-officer", "Blue Horizon Maritime")
    assert seen["reason"] == "ship-to-ship transfers of sanctioned oil" and seen["severity"] == "medium"
    assert screen(hub, "cus-officer", "Blue Horizon Maritime")[0]["view"] == "hit"
    known = as_(hub, "mar-officer", AddWatchlistEntry(entry={
        "kind": "party", "value": {"identifier": "PA 0077", "name": "Red Tide Bunkering SA"},
        "reason": "fuel smuggling", "severity": "high", "expires_at": later}))
    fuzzy = reasons(hub, declaration(exporter=SHADY | {"id": "PA0078", "name": "Red Tide Bunkering"}))
    assert [r["entry_id"] for r in fuzzy] == [known["id"]]
    # The same identifier is the risk step's own exact watchlist hit: screening does not report it twice.
    assert reasons(hub, declaration(exporter=SHADY | {"id": "PA-0077", "name": "Red Tide Bunkering"})) == []
    as_(hub, "mar-officer", RemoveWatchlistEntry(entry_id=entry["id"], reason="vessel sold"))
    assert reasons(hub, declaration(exporter=SHADY | {"name": "Blue Horizon Maritime S.A."})) == []


def test_the_http_api(hub):
    from fastapi.testclient import TestClient

    from concord.access.deps import current_subject
    from concord.app import create_app
    from concord.screening.api import router

    def client(user):
        web = create_app(hub, background=False)
        if not any(getattr(r, "path", "").startswith("/api/v1/screening") for r in web.routes):
            web.include_router(router)
        web.dependency_overrides[current_subject] = lambda: subjects(hub)[user]
        return TestClient(web)

    customs, police = client("cus-officer"), client("pol-officer")
    r = customs.post("/api/v1/screening", json={"name": "Oceanic Shadow Shipping", "country": "PA"})
    assert r.status_code == 200 and r.json()["matches"][0]["view"] == "hit"
    bad = customs.post("/api/v1/screening", json={"country": "PA"})
    assert bad.status_code == 422 and bad.json()["error"]["problems"][0]["pointer"] == "/name"
    m = police.post("/api/v1/screening", json={"name": "Oceanic Shadow Shipping", "country": "PA"}).json()["matches"][0]
    d = police.post("/api/v1/screening/decisions", json={
        "fingerprint": m["fingerprint"], "entry_id": m["entry_id"], "entry_version": m["entry_version"],
        "decision": "true_match", "reason": "same registry number"})
    assert d.status_code == 201 and d.json()["decision"] == "true_match"
    lists = customs.get("/api/v1/screening/lists").json()
    assert [(x["name"], x["owner_agency"], x["sharing"], x["entries"]) for x in lists] == [
        ("POL organised crime", "POL", "hit_no_hit", 3)]
    assert client("hollandfoods").get("/api/v1/screening/lists").status_code == 403


def test_screening_does_not_wait_for_another_threads_version_check(sqlite_concord):
    """The lodging path (on the event loop) screens with the index as it is while the periodic job reads the
    versions; after an invalidation it waits, so a list changed in this process is seen at once."""
    import threading

    screening = sqlite_concord.bus.deps["screening"]
    with sqlite_concord.sessions() as s:
        screening.refresh(s)
    screening._checked -= 10 * screening.ttl  # stale: a check is due
    screening._checking.acquire()  # the periodic job is reading the versions
    try:
        def lodging_path():
            with sqlite_concord.sessions() as s:
                screening.refresh(s)

        t = threading.Thread(target=lodging_path, daemon=True)
        t.start()
        t.join(timeout=10)
        assert not t.is_alive(), "the screening waited for the other thread's check"
        screening.invalidate()
        t = threading.Thread(target=lodging_path, daemon=True)
        t.start()
        t.join(timeout=0.5)
        assert t.is_alive()  # invalidated: it waits for the check under way, then checks itself
    finally:
        screening._checking.release()
    t.join(timeout=10)
    assert not t.is_alive()
