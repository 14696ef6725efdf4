"""STIX 2.1 and TAXII 2.1: hunts' indicators leave as bundles the stix2 library parses back to the same indicators,
TLP-marked by the agreements, and a TAXII client (taxii2-client) against a running hub pulls exactly the
collections its agency receives."""

import json
import socket
import threading
import time
from datetime import timedelta

import pytest
import requests
import stix2
import uvicorn

from concord.access.messages import IssueToken
from concord.agencies.messages import LoadConfig
from concord.app import create_app
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.errors import InvalidDocument
from concord.hunting.indicators import Indicators
from concord.hunting.messages import StartHunt
from concord.hunting.stix import indicators_from_pattern, pattern_of, read_bundle
from concord.hunting.stix_io import export_bundle, import_bundle
from concord.hunting.taxii import TAXII, collection_id
from support import demo_config_text, subjects

# Police share their hunts' indicators with customs (not with anyone else), and forbid onward sharing.
POL_TO_CUS = """
  - key: MOU-POL-CUS-INDICATORS
    title: Police indicators for customs controls
    provider: POL
    recipients: [CUS]
    purposes: [criminal_investigation]
    legal_basis: Memorandum of Understanding Customs-Police of 12 March 2026, Annex B
    scopes:
      - resource: watchlist_entry
        fields: [/value]
    handling: {onward_sharing: forbidden, court_use: with_permission, retention_days: 365}
    valid_from: 2026-01-01T00:00:00+00:00
    valid_until: 2028-12-31T23:59:59+00:00
    signed_by: [POL, CUS]
"""
INDICATORS = {"parties": ["ECEXP000001", "Guayaquil Banana Exporters SA"], "containers": ["MSCU1234566"],
              "conveyances": ["IMO9074729", "KL1234"], "hs": ["0803", "090111"], "origins": ["EC", "CO"],
              "rule": 'importer.country == "NL"'}


@pytest.fixture
def app(tmp_path):
    text = demo_config_text().replace("\nagreements:\n", "\nagreements:" + POL_TO_CUS, 1)
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'concord.db'}", var_dir=tmp_path),
                    clock=FixedClock())
    app.bus.handle(LoadConfig(text=text, source="test config"))
    yield app
    app.close()


def start(app, user="pol-officer", agency="POL", indicators=INDICATORS, source="incident/INC-7"):
    return app.bus.handle(StartHunt(agency=agency, source=source, indicators=indicators, lookback_days=0,
                                    valid_until=(app.clock.now() + timedelta(days=30)).isoformat()),
                          subject=subjects(app)[user])


def bundle_for(app, user, purpose="criminal_investigation"):
    with app.sessions() as s:
        return export_bundle(s, subjects(app)[user], purpose, app, [])


def test_patterns_round_trip_through_the_stix2_parser():
    ind = Indicators.model_validate(INDICATORS)
    back = indicators_from_pattern(pattern_of(ind), ind.rule)
    assert back.model_dump() == ind.model_dump()
    assert indicators_from_pattern(pattern_of(Indicators(parties=["O'Brien & Sons"]))).parties == ["O'Brien & Sons"]


def test_a_bundle_carries_the_tlp_of_the_agreement_and_reaches_only_its_recipients(app):
    start(app)
    own = stix2.parse(json.dumps(bundle_for(app, "pol-officer")), allow_custom=True)
    indicators = [o for o in own.objects if o.type == "indicator"]
    assert len(indicators) == 1 and indicators[0].x_concord_cel_rule == INDICATORS["rule"]
    [found] = read_bundle(own.serialize())
    assert found["indicators"].model_dump() == Indicators.model_validate(INDICATORS).model_dump()
    assert found["tlp"] == "amber"  # its own agency's hunt
    shared = read_bundle(json.dumps(bundle_for(app, "cus-officer")))
    assert [f["tlp"] for f in shared] == ["amber+strict"]  # onward sharing forbidden
    assert bundle_for(app, "cus-officer", purpose=None)["objects"] == []  # no purpose, no agreement
    assert bundle_for(app, "vet-officer")["objects"] == []  # no agreement at all
    assert bundle_for(app, "fda-officer")["objects"] == []


def test_an_imported_bundle_becomes_hunts_and_a_faulty_one_imports_nothing(app):
    start(app)
    bundle = json.dumps(bundle_for(app, "cus-officer"))
    customs = subjects(app)["cus-officer"]
    [entry] = import_bundle(app, customs, bundle, hunt=True)
    with app.sessions() as s:
        from concord.hunting.models import Hunt

        mine = s.get(Hunt, entry["hunt_id"])
    assert mine.agency == "CUS" and mine.source.startswith("stix/") and mine.indicators["containers"] == ["MSCU1234566"]
    with pytest.raises(InvalidDocument):
        read_bundle('{"type": "bundle", "id": "bundle--1", "objects": [{"type": "nonsense"}]}')
    bad = json.loads(bundle)
    next(o for o in bad["objects"] if o["type"] == "indicator")["pattern"] = "[file:name = 'x.exe']"
    with pytest.raises(InvalidDocument) as e:
        read_bundle(json.dumps(bad))
    assert e.value.problems[0].pointer.endswith("/pattern")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(app):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(app, background=False), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class Bearer(requests.auth.AuthBase):
    """A TAXII client's credentials: the hub's bearer token, and the purpose its reads are made for."""

    def __init__(self, token, purpose="criminal_investigation"):
        self.token, self.purpose = token, purpose

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        if self.purpose:
            r.headers["Concord-Purpose"] = self.purpose
        return r


def test_a_taxii_client_pulls_what_its_agency_receives_page_by_page(app, served):
    from taxii2client.v21 import Server, as_pages

    for i in range(3):
        start(app, source=f"incident/INC-{i}")
    start(app, user="vet-officer", agency="VET", indicators={"hs": ["0201"], "origins": ["BR"]})
    token = {u: app.bus.handle(IssueToken(user_id=u), subject=subjects(app)["admin"])["token"]
             for u in ("cus-officer", "pol-officer", "fda-officer")}

    customs = Server(f"{served}/taxii2/", auth=Bearer(token["cus-officer"]))
    assert customs.title == "Concord TAXII 2.1"
    [root] = customs.api_roots
    hunts = {c.id for c in root.collections if c.title.endswith("hunt indicators")}
    assert hunts == {collection_id("CUS"), collection_id("POL")}  # its own, and the police's under the agreement
    police_collection = next(c for c in root.collections if c.id == collection_id("POL"))
    pulled = []
    for page in as_pages(police_collection.get_objects, per_request=2):
        pulled += page.get("objects", [])
    indicators = [o for o in pulled if o["type"] == "indicator"]
    assert len(indicators) == 3
    parsed = stix2.parse({"type": "bundle", "id": "bundle--6b3c4a38-1f5e-4f0e-9a57-2f7f4c0e6d21",
                          "objects": pulled}, allow_custom=True)
    assert {o.type for o in parsed.objects} == {"indicator", "identity", "marking-definition"}
    assert all(o.object_marking_refs == ["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]
               for o in parsed.objects if o.type == "indicator")
    assert police_collection.get_object(indicators[0]["id"])["objects"][0]["id"] == indicators[0]["id"]

    # the food authority receives no police collection: only its own (empty) one; the police's is a 404, as a
    # collection that does not exist
    food = Server(f"{served}/taxii2/", auth=Bearer(token["fda-officer"]))
    listed = {c.id for c in food.api_roots[0].collections}
    assert collection_id("FDA") in listed and collection_id("POL") not in listed
    for cid in (collection_id("POL"), collection_id("NOWHERE")):
        r = requests.get(f"{served}/taxii2/api/collections/{cid}/objects/", auth=Bearer(token["fda-officer"]))
        assert r.status_code == 404 and r.json() == {"error": {"code": "not_found",
                                                              "message": f"collection {cid} not found"}}


def test_incidents_and_notices_leave_as_stix_cut_to_each_reader_and_through_taxii(app):
    from fastapi.testclient import TestClient

    from concord.incidents.messages import IssueNotice, RecordIncident

    seizure = {"category": "seizure", "severity": "critical", "title": "Cocaine in banana boxes",
               "summary": "S3CR3T-informant says a second container follows", "occurred_at": "2026-01-05T07:30:00+00:00",
               "location": {"office": "NLRTM", "place": "Quay 7", "country": "NL"},
               "found": [{"goods": "cocaine", "hs_code": "293979", "origin": "EC", "quantity": "120.5", "unit": "KGM",
                          "concealment": "bricks under the false floor"}],
               "containers": ["MSCU1234566"], "conveyance": "IMO9074729",
               "parties": [{"role": "exporter", "name": "Guayaquil Banana Exporters SA", "id": "EC0992345678"}],
               "indicators": {"containers": ["MSCU1234566"], "hs": ["0803"], "origins": ["EC"]}}
    who = subjects(app)
    incident = app.bus.handle(RecordIncident(document=seizure), subject=who["nppo-officer"])["id"]
    now = app.clock.now()
    notice = app.bus.handle(IssueNotice(document={
        "title": "Bananas from Guayaquil used for cocaine", "summary": "check the pallets", "purpose": "public_health",
        "indicators": {"hs": ["0803"], "origins": ["EC"]}, "recommended_action": "inspect",
        "valid_until": (now + timedelta(days=30)).isoformat(), "feedback_due_at": (now + timedelta(days=7)).isoformat()}),
        subject=who["nppo-officer"])["id"]

    police = bundle_for(app, "pol-officer")
    parsed = stix2.parse(json.dumps(police), allow_custom=True)
    [stix_incident] = [o for o in parsed.objects if o.type == "incident"]
    assert stix_incident.name == "Cocaine in banana boxes" and stix_incident.x_concord_containers == ["MSCU1234566"]
    assert "S3CR3T" not in json.dumps(police) and "parties" not in json.dumps(police)  # outside the police's scope
    assert {o.relationship_type for o in parsed.objects if o.type == "relationship"} == {"indicates"}
    assert stix_incident.object_marking_refs == ["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]
    assert not [o for o in parsed.objects if o.get("external_references", [{}])[0].get("external_id") == notice]

    food = stix2.parse(json.dumps(bundle_for(app, "fda-officer", purpose=None)), allow_custom=True)
    [notice_indicator] = [o for o in food.objects if o.type == "indicator"]
    assert notice_indicator.name.startswith("Bananas") and "EC" in notice_indicator.pattern
    assert [o.name for o in food.objects if o.type == "course-of-action"] == ["inspect"]
    assert not [o for o in food.objects if o.type == "incident"]
    assert bundle_for(app, "vet-officer")["objects"] == []
    assert incident in json.dumps(bundle_for(app, "nppo-officer"))  # the owner's own: whole, TLP:AMBER

    token = {u: app.bus.handle(IssueToken(user_id=u), subject=who["admin"])["token"] for u in ("pol-officer", "vet-officer")}
    with TestClient(create_app(app, background=False)) as client:
        def get(path, user):
            return client.get(path, headers={"Authorization": f"Bearer {token[user]}",
                                             "Concord-Purpose": "criminal_investigation"})

        cid = collection_id("NPPO", "incidents")
        listed = get("/taxii2/api/collections/", "pol-officer").json()["collections"]
        assert cid in {c["id"] for c in listed}
        pulled = get(f"/taxii2/api/collections/{cid}/objects/?limit=2", "pol-officer")
        assert pulled.headers["content-type"] == TAXII and pulled.json()["more"] is True
        rest = get(f"/taxii2/api/collections/{cid}/objects/?limit=10&next={pulled.json()['next']}", "pol-officer")
        objects = pulled.json()["objects"] + rest.json()["objects"]
        assert {o["type"] for o in objects} == {"marking-definition", "identity", "incident", "indicator", "relationship"}
        assert cid not in {c["id"] for c in get("/taxii2/api/collections/", "vet-officer").json()["collections"]}
        assert get(f"/taxii2/api/collections/{cid}/objects/", "vet-officer").status_code == 404
