"""Property: no field of an incident leaves by any path (get, list and its count, attachment, event stream)
outside its owner's rule, under drawn incidents, incident agreements (categories, fields, conditions, purposes,
status, validity), grants and purposes. The oracle restates the rule on plain data; every free text is unique, so
a leak is found wherever it travels."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from concord.agencies.messages import LoadConfig
from concord.agreements.models import AccessGrant, SharingAgreement
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.errors import NotFound
from concord.ids import new_id
from concord.incidents import queries
from concord.incidents.messages import AddAttachment, ChangeIncidentStatus, RecordIncident
from concord.incidents.models import CATEGORIES
from concord.messaging.audiences import messages_for
from concord.messaging.models import EventRecord
from support import demo_config_text, subjects

S = "S3CR3T"
AGENCIES = ["CUS", "NPPO", "VET", "FDA", "STD", "POL", "ENV", "MAR"]
USERS = ["cus-officer", "auditor", "cus-liaison", "nppo-officer", "nppo-liaison", "vet-officer", "fda-officer",
         "pol-officer", "pol-liaison", "env-officer", "mar-officer", "hollandfoods"]
POINTERS = ["/category", "/severity", "/title", "/summary", "/found", "/found/*/concealment", "/location",
            "/parties", "/indicators", "/timeline", "/attachments", "/containers"]
PURPOSES = ["criminal_investigation", "public_health", "plant_animal_health"]
GOODS = [("293979", "EC"), ("080390", "CO"), ("030617", "VN"), ("930200", "US")]
JPEG = b"\xff\xd8\xff\xe0"

incident = st.fixed_dictionaries({
    "owner": st.sampled_from(["NPPO", "CUS", "VET", "POL"]), "category": st.sampled_from(CATEGORIES),
    "goods": st.integers(0, len(GOODS) - 1), "office": st.sampled_from(["NLRTM", "NLAMS"]),
    "triaged": st.booleans(), "attach": st.booleans()})
agreement = st.fixed_dictionaries({
    "provider": st.sampled_from(["NPPO", "CUS", "VET", "POL"]),
    "recipients": st.lists(st.sampled_from(AGENCIES), min_size=1, max_size=3, unique=True),
    "purposes": st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2, unique=True),
    "fields": st.lists(st.sampled_from(POINTERS), min_size=1, max_size=4, unique=True),
    "categories": st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True),
    "hs_chapters": st.lists(st.sampled_from(["29", "08", "03", "93"]), max_size=1),
    "origins": st.lists(st.sampled_from(["EC", "CO", "VN", "US"]), max_size=1),
    "status": st.sampled_from(["active", "active", "suspended"]), "expired": st.booleans()})


def covers(fields, pointer: str) -> bool:
    return "/" in fields or any(pointer == f or pointer.startswith(f + "/") for f in fields)


class World:
    def __init__(self, app, who):
        self.app, self.who, self.incidents, self.n = app, who, [], 0
        self.agreements, self.grants, self.purpose = [], set(), None

    def record(self, spec):
        self.n += 1
        tag = f"{S}-{self.n:03d}"
        hs, origin = GOODS[spec["goods"]]
        owner = self.who[{"CUS": "cus-officer"}.get(spec["owner"], f"{spec['owner'].lower()}-officer")]
        doc = {"category": spec["category"], "severity": "high", "title": f"{tag}-TITLE", "summary": f"{tag}-SUMMARY",
               "occurred_at": "2026-06-01T06:00:00+00:00",
               "location": {"office": spec["office"], "place": f"{tag}-PLACE"},
               "found": [{"goods": "goods", "hs_code": hs, "origin": origin, "concealment": f"{tag}-HIDDEN"}],
               "parties": [{"role": "suspect", "name": f"{tag}-SUSPECT"}],
               "indicators": {"parties": [f"{tag}-INDICATOR"]}}
        iid = self.app.bus.handle(RecordIncident(document=doc), subject=owner)["id"]
        secrets = [(f"{tag}-TITLE", ("/title",)), (f"{tag}-SUMMARY", ("/summary",)),
                   (f"{tag}-PLACE", ("/location",)), (f"{tag}-HIDDEN", ("/found", "/found/*/concealment")),
                   (f"{tag}-SUSPECT", ("/parties",)), (f"{tag}-INDICATOR", ("/indicators",))]
        if spec["triaged"]:
            self.app.bus.handle(ChangeIncidentStatus(incident_id=iid, status="triaged", note=f"{tag}-NOTE"),
                                subject=owner)
            secrets.append((f"{tag}-NOTE", ("/timeline",)))
        if spec["attach"]:
            self.app.bus.handle(AddAttachment(incident_id=iid, name=f"{tag}-FILE.jpg", media_type="image/jpeg",
                                              data=JPEG + tag.encode()), subject=owner)
            secrets.append((f"{tag}-FILE", ("/attachments", "/timeline")))
        self.incidents.append({"id": iid, "owner": spec["owner"], "category": spec["category"],
                               "facets": ({hs[:2]}, {origin}, spec["office"]), "secrets": secrets})

    def reader(self, u) -> bool:
        return bool(u.roles & {"officer", "supervisor", "auditor"})

    def holds(self, a, i, purpose) -> bool:
        hs, origins, office = i["facets"]
        return (a["provider"] == i["owner"] and a["status"] == "active" and not a["expired"]
                and (purpose is None or purpose in a["purposes"])
                and (not a["categories"] or i["category"] in a["categories"])
                and (not a["hs_chapters"] or hs & set(a["hs_chapters"]))
                and (not a["origins"] or origins & set(a["origins"])))

    def fields(self, u, i, stream: bool = False) -> set:
        """What u may see of incident i on a read for the world's purpose; `stream`: what u's agency's stream
        carries (an agency's stream reads as its officer, under any purpose of an agreement)."""
        if u.agency == i["owner"]:
            return {"/"}
        if u.agency is None or not (stream or self.reader(u)):
            return set()
        if (u.agency, i["id"]) in self.grants:
            return {"/"}
        if not stream and self.purpose is None:
            return set()
        return {f for a in self.agreements if u.agency in a["recipients"]
                and self.holds(a, i, None if stream else self.purpose) for f in a["fields"]}


def test_no_incident_field_leaves_outside_its_owners_rule(tmp_path):
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", var_dir=tmp_path),
                    clock=FixedClock(datetime(2026, 6, 1, 8, tzinfo=timezone.utc)))
    app.bus.handle(LoadConfig(text=demo_config_text().split("\nagreements:")[0]))
    who = subjects(app)
    world, tally = World(app, who), {"reads": 0, "checks": 0}

    def expect(ok, what):
        tally["checks"] += 1
        assert ok, what

    @settings(max_examples=int(os.environ.get("LEAK_EXAMPLES", "20")), deadline=None,
              phases=(Phase.explicit, Phase.generate), database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(incident, min_size=1, max_size=2), st.lists(agreement, max_size=4),
           st.lists(st.tuples(st.sampled_from(AGENCIES), st.integers(0, 50)), max_size=2),
           st.sampled_from(PURPOSES + [None]))
    def check(incidents, agreements, grants, purpose):
        for spec in incidents:
            world.record(spec)
        recent = world.incidents[-6:]
        world.agreements, world.purpose = agreements, purpose
        world.grants = {(agency, recent[n % len(recent)]["id"]) for agency, n in grants
                        if agency != next(i["owner"] for i in recent if i["id"] == recent[n % len(recent)]["id"])}
        now = app.clock.now()
        with app.sessions() as s:
            s.execute(delete(SharingAgreement))
            s.execute(delete(AccessGrant))
            for n, a in enumerate(agreements):
                recipients = [r for r in a["recipients"] if r != a["provider"]] or ["MAR"]
                a["recipients"] = recipients
                s.add(SharingAgreement(
                    id=new_id("AGR"), key=f"K{n}", version=1, title="generated", provider=a["provider"],
                    recipients=recipients, purposes=a["purposes"], legal_basis="generated",
                    scopes=[{"resource": "incident", "fields": a["fields"], "condition": {
                        "hs_chapters": a["hs_chapters"], "origins": a["origins"], "categories": a["categories"]}}],
                    handling={}, valid_from=datetime(2026, 1, 1, tzinfo=timezone.utc),
                    valid_until=datetime(2026, 5 if a["expired"] else 12, 1, tzinfo=timezone.utc),
                    status=a["status"], created_by="t", created_at=now, changed_at=now, status_reason=None))
            for agency, iid in world.grants:
                owner = next(i["owner"] for i in world.incidents if i["id"] == iid)
                s.add(AccessGrant(id=new_id("GRT"), kind="request", requester="x", requester_agency=agency,
                                  provider=owner, resource=f"incident/{iid}", purpose="public_health",
                                  justification="generated", status="granted", requested_at=now, decided_by="x",
                                  decided_at=now, expires_at=now + timedelta(hours=4), decision_reason="ok"))
            s.commit()
        app.access.book.invalidate()
        with app.sessions() as s:
            rows = [{"id": e.id, "name": e.name, "declaration_id": e.declaration_id, "agency": e.agency,
                     "occurred_at": e.occurred_at, "payload": e.payload}
                    for e in s.scalars(select(EventRecord).where(EventRecord.name.like("incident.%"))
                                       .order_by(EventRecord.seq))]
            stream = messages_for(s, rows, access=app.access)
            for user in USERS:
                u = who[user]
                listed = queries.list_incidents(s, u, purpose=purpose, limit=500, access=app.access)
                tally["reads"] += 1
                expect(listed["total"] == len(listed["items"]) == sum(
                    bool(world.fields(u, i)) for i in world.incidents), ("count", user))
                by_id = {r["id"]: r for r in listed["items"]}
                heard = orjson.dumps([m for m in stream if m["audience"] == u.agency]).decode() if u.agency else ""
                for i in recent:
                    probe(s, u, i, by_id.get(i["id"]), heard)

    def probe(s, u, i, listed, heard):
        fields = world.fields(u, i)
        try:
            got = queries.get_incident(s, u, i["id"], world.purpose, access=app.access)
        except NotFound:
            got = None
        tally["reads"] += 1
        expect((got is not None) == bool(fields) == (listed is not None), ("visible", u.user_id, i["id"], fields))
        streamed = world.fields(u, i, stream=True)
        expect((i["id"] in heard) == bool(streamed), ("stream", u.user_id, i["id"]))
        text = orjson.dumps([got, listed]).decode()
        for secret, pointers in i["secrets"]:
            expect(secret not in text or any(covers(fields, p) for p in pointers), (u.user_id, secret, fields))
            expect(secret not in heard or any(covers(streamed, p) for p in pointers), (u.user_id, "stream", secret))
        if got is not None:
            expect(("category" in got["document"]) == covers(fields, "/category"), ("category", u.user_id))
            if i["secrets"][-1][0].endswith("FILE"):
                sha = next(iter(got["document"].get("attachments", [])), {}).get("sha256")
                if sha:
                    expect(covers(fields, "/attachments"), ("attachment listed", u.user_id))
                    queries.attachment(s, u, i["id"], sha, world.purpose, access=app.access)

    check()
    print(f"\nincident leak probes: {tally['reads']} reads, {tally['checks']} checks, {len(world.incidents)} incidents")
    app.close()
