"""The console over HTTP (no browser): sign-in and its guards, the screens' work, and one access path: every page
shows nothing that the API's reads would not give the same subject."""

import re
from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from concord.app import create_app
from concord.clearance.messages import DecideTask
from concord.console import auth
from concord.declarations import queries
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.errors import NotFound
from support import console_accounts, declaration, item, subjects

PASSWORD = "correct horse battery"
BANANAS = item("080390", "Fresh bananas", "EC", documents=["N851"])
USERS = ("hollandfoods", "eurotech", "cus-officer", "nppo-officer", "pol-officer", "nppo-liaison", "auditor",
         "cus-supervisor")


@pytest.fixture
def hub(sqlite_concord):
    """The demo hub with console accounts."""
    console_accounts(sqlite_concord, USERS, PASSWORD)
    return sqlite_concord


def client(hub) -> TestClient:
    return TestClient(create_app(hub, background=False), base_url="http://testserver", follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(c: TestClient, user: str, password: str = PASSWORD, code: str | None = None):
    page = c.get("/console/sign-in")
    return c.post("/console/sign-in", data={"csrf": csrf_of(page.text), "user": user, "password": password,
                                            "code": code or "", "next": "/console/"})


def signed(hub, user: str) -> TestClient:
    c = client(hub)
    assert sign_in(c, user).status_code == 303
    return c


def submit(hub, doc, who="hollandfoods") -> str:
    return hub.bus.handle(SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")),
                          subject=subjects(hub)[who])["id"]


def test_sign_in_sets_a_guarded_cookie_and_sign_out_ends_the_session(hub):
    c = client(hub)
    assert c.get("/console/tasks").headers["location"].startswith("/console/sign-in?next=/console/tasks")
    assert sign_in(c, "cus-officer", "wrong password!").status_code == 401
    r = sign_in(c, "cus-officer")
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("concord_session="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie  # plain HTTP here
    assert c.get("/console/").headers["location"] == "/console/tasks"
    page = c.get("/console/tasks")
    assert page.status_code == 200 and "Task queue of CUS" in page.text
    assert c.post("/console/sign-out", data={}).status_code == 400  # no CSRF token: refused
    assert c.post("/console/sign-out", data={"csrf": "forged"}).status_code == 400
    assert c.post("/console/sign-out", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert c.get("/console/tasks").status_code == 303  # the old cookie is dead on the server too


def test_secure_cookie_behind_https(hub):
    c = TestClient(create_app(hub, background=False), base_url="https://testserver", follow_redirects=False)
    cookie = next(h for h in sign_in(c, "cus-officer").headers.get_list("set-cookie")
                  if h.startswith("concord_session="))
    assert "Secure" in cookie


def test_idle_and_absolute_timeouts(hub):
    c = signed(hub, "cus-officer")
    hub.clock.advance(minutes=29)
    assert c.get("/console/tasks").status_code == 200
    hub.clock.advance(minutes=29)  # seen 29 min ago: still alive, and this use counts
    assert c.get("/console/tasks").status_code == 200
    hub.clock.advance(minutes=31)
    assert c.get("/console/tasks").status_code == 303  # idle too long
    c = signed(hub, "cus-officer")
    for _ in range(26):  # busy all shift long
        hub.clock.advance(minutes=29)
        c.get("/console/tasks")
    assert c.get("/console/tasks").status_code == 303  # past the absolute limit however busy


def test_lockout_after_repeated_failures_even_with_the_right_password(hub):
    c = client(hub)
    for _ in range(auth.MAX_FAILURES):
        assert sign_in(c, "nppo-officer", "not the password").status_code == 401
    assert sign_in(c, "nppo-officer").status_code == 401  # locked
    hub.clock.advance(minutes=16)
    assert sign_in(c, "nppo-officer").status_code == 303
    assert sign_in(c, "nobody-at-all").status_code == 401  # an unknown user is told the same


def test_totp_second_factor(hub):
    import pyotp

    uri = auth.enable_totp(hub, "auditor")
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    c = client(hub)
    assert sign_in(c, "auditor").status_code == 401
    assert sign_in(c, "auditor", code="000000").status_code == 401
    assert sign_in(c, "auditor", code=pyotp.TOTP(secret).at(hub.clock.now())).status_code == 303


def test_sign_in_form_needs_its_token_and_next_stays_in_the_console(hub):
    c = client(hub)
    c.get("/console/sign-in")
    assert c.post("/console/sign-in", data={"user": "auditor", "password": PASSWORD}).status_code == 400
    page = c.get("/console/sign-in?next=//evil.example/x")
    r = c.post("/console/sign-in", data={"csrf": csrf_of(page.text), "user": "auditor", "password": PASSWORD,
                                         "next": "https://evil.example/"})
    assert r.headers["location"] == "/console/"


def test_officer_decides_in_the_queue_and_customs_records_arrival(hub):
    did = submit(hub, declaration(lrn="LRN-CONSOLE-1", items=[BANANAS]))
    nppo = signed(hub, "nppo-officer")
    queue = nppo.get("/console/tasks")
    assert "NPPO-PLANTS" in queue.text and "Regulation (EU) 2016/2031" in queue.text and " left" in queue.text
    task_id = re.search(r'href="/console/tasks/([A-Za-z0-9_]+)"', queue.text).group(1)
    page = nppo.get(f"/console/tasks/{task_id}")
    assert "Fresh bananas" in page.text and "Holland Foods Import BV" in page.text  # the importer: in NPPO's view
    assert "NL823456781" not in page.text  # the importer's EORI is not in NPPO's fields
    refused = nppo.post(f"/console/tasks/{task_id}/decision",
                        data={"csrf": csrf_of(page.text), "decision": "approve", "reason": ""})
    assert refused.status_code == 422 and 'id="e-reason"' in refused.text
    done = nppo.post(f"/console/tasks/{task_id}/decision",
                     data={"csrf": csrf_of(page.text), "decision": "approve", "reason": "certificate checked"})
    assert done.status_code == 303
    customs = signed(hub, "cus-officer")
    page = customs.get(f"/console/declarations/{did}")
    assert "Record arrival" in page.text
    r = customs.post(f"/console/declarations/{did}/arrival", data={"csrf": csrf_of(page.text), "location": "ECT"})
    assert r.status_code == 303
    trader = signed(hub, "hollandfoods")
    assert "released" in trader.get(f"/console/declarations/{did}/live").text


def test_lodging_form_puts_the_apis_problems_at_the_fields(hub):
    trader = signed(hub, "hollandfoods")
    page = trader.get("/console/lodge")
    doc = declaration(lrn="LRN-FORM-1")
    fields = {"csrf": csrf_of(page.text), "key": "k1", "/lrn": doc["lrn"], "/type": "IM",
              "/office_of_entry": "NLRTM", "/arrival": "2026-01-07T08:00", "/transport/mode": "sea",
              "/transport/conveyance": "IMO9074729", "/transport/containers": "MSCU1234566"}
    for role in ("declarant", "importer", "exporter"):
        fields |= {f"/{role}/{k}": v for k, v in doc[role].items()}
    it = doc["items"][0]
    fields |= {"/items/0/hs_code": "999999", "/items/0/description": it["description"], "/items/0/origin": "BD",
               "/items/0/quantity": "1000", "/items/0/unit": "NAR", "/items/0/net_mass_kg": "200",
               "/items/0/value/amount": "2800.00", "/items/0/value/currency": "EUR"}
    r = trader.post("/console/lodge", data=fields)
    assert r.status_code == 422
    assert re.search(r'id="f-items-0-hs_code"[^>]*aria-invalid="true"', r.text)
    assert 'id="ef-items-0-hs_code"' in r.text and 'href="#f-items-0-hs_code"' in r.text
    r = trader.post("/console/lodge", data=fields | {"/items/0/hs_code": "610910"})
    assert r.status_code == 303
    assert "LRN-FORM-1" in trader.get(r.headers["location"]).text


def test_search_finds_within_the_view_only(hub):
    did = submit(hub, declaration(lrn="LRN-SEARCH-1", items=[BANANAS]))
    customs, nppo = signed(hub, "cus-officer"), signed(hub, "nppo-officer")
    assert did in customs.get("/console/declarations?q=NL823456781").text  # the importer's EORI: customs sees it
    assert did not in nppo.get("/console/declarations?q=NL823456781").text  # not in NPPO's fields: no match
    assert did in nppo.get("/console/declarations?q=MSCU1234566").text  # the container is in its view
    assert did not in signed(hub, "pol-officer").get("/console/declarations?q=LRN-SEARCH").text
    assert "0 declarations." in customs.get("/console/declarations?q=office_of_entry").text  # values, not names


def test_liaison_signs_and_auditor_reads_the_log(hub):
    from concord.agreements.messages import DraftAgreement, SignAgreement

    draft = hub.bus.handle(DraftAgreement(document={
        "key": "MOU-NPPO-CUS-CONSOLE", "title": "Plant inspection results to customs", "provider": "NPPO",
        "recipients": ["CUS"], "purposes": ["plant_animal_health"], "legal_basis": "Regulation (EU) 2017/625, Art. 102",
        "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2027-01-01T00:00:00+00:00",
        "scopes": [{"resource": "inspection_result", "fields": ["/result"]}]}),
        subject=subjects(hub)["cus-liaison"])
    hub.bus.handle(SignAgreement(agreement_id=draft["id"]), subject=subjects(hub)["cus-liaison"])
    liaison = signed(hub, "nppo-liaison")
    page = liaison.get("/console/agreements")
    assert "Plant inspection results to customs" in page.text and "Sign for NPPO" in page.text
    r = liaison.post(f"/console/agreements/{draft['id']}/sign", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and "signature is recorded" in liaison.get(r.headers["location"]).text
    auditor = signed(hub, "auditor")
    log = auditor.get("/console/audit?action=agreement")
    assert "agreement:" in log.text and "Latest signed checkpoint" in log.text
    seq = re.search(r'href="/console/audit/(\d+)"', log.text).group(1)
    entry = auditor.get(f"/console/audit/{seq}")
    assert entry.status_code == 200 and 'id="proof-data"' in entry.text
    assert signed(hub, "nppo-officer").get("/console/audit").status_code == 403


def test_french_from_accept_language_and_the_switch(hub):
    c = client(hub)
    assert "Se connecter" in c.get("/console/sign-in", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).text
    assert "Sign in" in c.get("/console/sign-in", headers={"Accept-Language": "de, en;q=0.5"}).text
    r = c.get("/console/sign-in?lang=fr")
    assert "Se connecter" in r.text and "concord_lang=fr" in r.headers["set-cookie"]
    assert "Se connecter" in c.get("/console/sign-in").text  # the switch is remembered


# -- One access path: walk every console page as every user; nothing the API would not show them appears.

MARK = {"lrn": "LRN-SECRET-7731", "importer": "Zyxwvut Hidden Importer BV", "conveyance": "IMO9999993"}


ENF = {"summary": "S3CR3T-SUMMARY-4411", "concealment": "S3CR3T-CONCEALED-4412", "thread": "S3CR3T-THREAD-4413",
       "notice": "S3CR3T-NOTICE-4414"}
WHY = "criminal_investigation"  # the police's agreement on seizures: the walk states it where a read may


def _pages(c, did, task_ids, seqs, enf=None) -> dict:
    """Every GET route of the console, with the planted records' ids where a route takes one."""
    enf = enf or {"inc": "I", "sha": "H", "op": "O", "notice": "N"}
    paths = {f"/console/incidents?purpose={WHY}", "/console/incidents", f"/console/incidents/live?purpose={WHY}",
             f"/console/incidents/{enf['inc']}", f"/console/incidents/{enf['inc']}?purpose={WHY}",
             f"/console/incidents/{enf['inc']}/attachments/{enf['sha']}?purpose={WHY}", "/console/operations",
             f"/console/operations/{enf['op']}", "/console/notices", f"/console/notices/{enf['notice']}",
             "/console/incidents/new", "/console/agreements/new", f"/console/operations/new?incident={enf['inc']}",
             f"/console/notices/new?incident={enf['inc']}"}
    paths |= {"/console/", "/console/tasks", "/console/declarations", f"/console/declarations?q={MARK['lrn']}",
             f"/console/declarations?q={MARK['conveyance']}", f"/console/declarations/{did}",
             f"/console/declarations/{did}/live", f"/console/declarations/{did}/amend", "/console/upload", "/console/stream?events=task.", "/console/notifications",
             "/console/access-requests", "/console/access-report", "/console/access-report.csv?agency=NPPO",
             "/console/agreements/MOU-NPPO-POL-SEIZURES/diff", "/console/agreements/K/diff",
             "/console/agreements/MOU-NPPO-POL-SEIZURES/new-version", "/console/agreements/K/new-version",
             "/console/sign-in/oidc", "/console/sign-in/oidc/callback?code=c&state=s",
             "/console/lodge", "/console/agreements", "/console/audit",
             "/console/supervisor", "/console/supervisor?officer=-", "/console/supervisor/trs", "/console/supervisor/lanes",
             "/console/sign-in"}
    paths |= {f"/console/tasks/{t}" for t in task_ids} | {f"/console/audit/{s}" for s in seqs}
    return {p: c.get(p) for p in paths}


def test_every_console_route_shows_no_more_than_the_api(hub):
    from sqlalchemy import select

    from concord.audit.models import AuditEntry
    from concord.clearance.models import AgencyTask
    from concord.console import web

    doc = declaration(lrn=MARK["lrn"], items=[BANANAS])
    doc["importer"] = doc["importer"] | {"name": MARK["importer"]}
    doc["transport"] = doc["transport"] | {"conveyance": MARK["conveyance"]}
    did = submit(hub, doc)
    nppo_task = next(t for t in _tasks(hub, did) if t.agency == "NPPO")
    hub.bus.handle(DecideTask(task_id=nppo_task.id, decision="approve", reason="ok"),
                   subject=subjects(hub)["nppo-officer"])
    with hub.sessions() as s:
        task_ids = [t.id for t in s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did))]
        seqs = [e.seq for e in s.scalars(select(AuditEntry).where(AuditEntry.resource == f"declaration/{did}"))][:2]
    from concord.console import (agreement_forms, auditor, declarant, enforcement, enforcement_forms, liaison, live,
                                 officer, oidc, pages, sharing, supervisor, trader)

    enf = _plant_enforcement(hub)
    modules = (pages, officer, supervisor, trader, agreement_forms, liaison, auditor, enforcement_forms, enforcement,
               declarant, live, sharing, oidc)
    routes = {r.path for m in modules for r in m.router.routes if "GET" in r.methods}
    walked = {p.split("?")[0] for p in _pages(client(hub), "D", ["T"], [0])}
    holes = {"D": "/{declaration_id}", "T": "/{task_id}", "0": "/{seq}", "I": "/{incident_id}", "H": "/{sha256}",
             "O": "/{operation_id}", "N": "/{notice_id}", "K": "/{key}"}
    walked = {re.sub(r"/(D|T|0|I|H|O|N|K)(?=/|$)", lambda m: holes[m.group(1)], p) for p in walked}
    assert routes and routes <= walked, f"console GET routes missing from this walk: {routes - walked}"
    seen_by, enf_seen_by = {}, {}
    for user in USERS:
        api = _api_text(hub, user, did, enf)
        for path, r in _pages(signed(hub, user), did, task_ids, seqs, enf).items():
            assert r.status_code in (200, 303, 400, 403, 404), (user, path, r.status_code)
            for name, marker in MARK.items():
                if marker in r.text and "q=" not in path:
                    assert marker in api, f"{user} sees {name} on {path}, which the API does not give them"
                    seen_by.setdefault(user, set()).add(name)
            for name, marker in ENF.items():
                if marker in r.text:
                    assert marker in api, f"{user} sees {name} on {path}, which the API does not give them"
                    enf_seen_by.setdefault(user, set()).add(name)
    assert seen_by["hollandfoods"] == set(MARK) and seen_by["cus-officer"] == set(MARK)
    assert seen_by.get("nppo-officer") == {"lrn", "importer"}  # its routing rule's fields: not the conveyance
    assert "pol-officer" not in seen_by and "eurotech" not in seen_by  # no purpose, no agreement: nothing
    assert enf_seen_by["nppo-officer"] == set(ENF)  # its incident, its operation, its notice
    assert enf_seen_by["pol-officer"] == {"concealment", "thread"}  # the agreed fields; a member of the operation
    # an operation is its member agencies': customs' officer reads the thread its supervisor is in; no incident
    # agreement gives customs the seizure
    assert enf_seen_by["cus-supervisor"] == enf_seen_by["cus-officer"] == {"thread"}
    assert not {"hollandfoods", "eurotech"} & set(enf_seen_by)
    assert web.PAGE > 0


def _tasks(hub, did):
    from sqlalchemy import select

    from concord.clearance.models import AgencyTask

    with hub.sessions() as s:
        return s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did)).all()


def _plant_enforcement(hub) -> dict:
    """A seizure of NPPO's with a photo, an operation with the police and customs, a notice to the food authority."""
    from concord.incidents.messages import AddAttachment, IssueNotice, OpenOperation, PostOperationMessage, \
        RecordIncident

    who, now = subjects(hub), hub.clock.now()
    inc = hub.bus.handle(RecordIncident(document={
        "category": "seizure", "title": "Cocaine in banana boxes", "summary": ENF["summary"],
        "occurred_at": "2026-01-05T07:30:00+00:00",
        "found": [{"goods": "cocaine", "concealment": ENF["concealment"]}]}), subject=who["nppo-officer"])["id"]
    photo = hub.bus.handle(AddAttachment(incident_id=inc, name="hold.jpg", media_type="image/jpeg",
                                         data=b"\xff\xd8\xff\xe0" + b"\x00" * 64), subject=who["nppo-officer"])
    op = hub.bus.handle(OpenOperation(document={
        "name": "Operation Walk", "incident_id": inc, "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=14)).isoformat(),
        "members": [{"user_id": "pol-officer", "role": "member"}, {"user_id": "cus-supervisor", "role": "observer"}]}),
        subject=who["nppo-officer"])["id"]
    hub.bus.handle(PostOperationMessage(operation_id=op, text=ENF["thread"]), subject=who["pol-officer"])
    notice = hub.bus.handle(IssueNotice(document={
        "title": "Bananas used for cocaine", "summary": ENF["notice"], "purpose": "public_health",
        "indicators": {"hs": ["0901"]}, "recommended_action": "inspect",
        "valid_until": (now + timedelta(days=30)).isoformat(),
        "feedback_due_at": (now + timedelta(days=7)).isoformat()}), subject=who["nppo-officer"])["id"]
    return {"inc": inc, "sha": photo["sha256"], "op": op, "notice": notice}


def _api_text(hub, user, did, enf=None) -> str:
    """What the API's read functions give this user about the declaration (its document, timeline, audit), and
    about the planted incident, operation and notice."""
    who = subjects(hub)[user]
    out = []
    with hub.sessions() as s:
        if enf is not None:
            from concord.incidents import queries as enforcement

            for read in (lambda: enforcement.get_incident(s, who, enf["inc"], None, access=hub.access),
                         lambda: enforcement.get_incident(s, who, enf["inc"], WHY, access=hub.access),
                         lambda: enforcement.get_operation(s, who, enf["op"], access=hub.access),
                         lambda: enforcement.get_notice(s, who, enf["notice"], access=hub.access)):
                try:
                    out.append(read())
                except NotFound:
                    pass
        try:
            out.append(queries.get_declaration(s, who, did, {}, access=hub.access))
            out.append(queries.timeline(s, who, did, access=hub.access))
        except NotFound:
            pass
        if who.has("auditor"):  # the audit entries an auditor reads through the API
            from sqlalchemy import select

            from concord.audit.models import AuditEntry

            out += [e.body for e in s.scalars(select(AuditEntry))]
    return orjson.dumps(out).decode()


def test_timeouts_are_what_the_docs_say():
    assert auth.IDLE == timedelta(minutes=30) and auth.ABSOLUTE == timedelta(hours=12)


def test_supervisor_sees_overdue_tasks_and_decisions_per_officer_of_the_own_agency_only(hub):
    from concord.agencies.messages import LoadConfig
    from concord.clearance.queries import task_queue
    from support import demo_config_text

    # Customs draws every declaration for control, so its own task stays open and falls overdue
    hub.bus.handle(LoadConfig(text=demo_config_text(random_rate=1.0), source="every declaration controlled"))
    did = submit(hub, declaration(lrn="LRN-SUPERVISED", items=[BANANAS]))
    customs = next(t for t in _tasks(hub, did) if t.agency == "CUS" and t.open)
    hub.bus.handle(DecideTask(task_id=next(t for t in _tasks(hub, did) if t.agency == "NPPO").id,
                              decision="approve", reason="ok"), subject=subjects(hub)["nppo-officer"])
    hub.clock.advance(hours=200)
    other = submit(hub, declaration(lrn="LRN-SUPERVISED-2"))
    hub.bus.handle(DecideTask(task_id=next(t for t in _tasks(hub, other) if t.agency == "CUS" and t.open).id,
                              decision="approve", reason="controlled"), subject=subjects(hub)["cus-officer"])
    page = signed(hub, "cus-supervisor").get("/console/supervisor")
    assert re.search(r"<td>cus-officer</td><td>1</td>", page.text)
    with hub.sessions() as s:
        overdue = task_queue(s, subjects(hub)["cus-supervisor"], hub.clock.now(), overdue=True, access=hub.access)
    assert page.status_code == 200 and overdue["total"] >= 1 and customs.id in page.text
    assert "nppo-officer" not in page.text  # another agency's decisions are not its workload
    assert signed(hub, "nppo-officer").get("/console/supervisor").status_code == 403


def test_operators_cli_adds_changes_and_guards_accounts(sqlite_concord, monkeypatch):
    from typer.testing import CliRunner

    from concord.cli import app as cli
    from concord.config import get_settings

    monkeypatch.setenv("CONCORD_DATABASE_URL", sqlite_concord.settings.resolved_database_url())
    monkeypatch.setenv("CONCORD_VAR_DIR", str(sqlite_concord.settings.var_dir))
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke
        assert run(cli, ["users", "add", "vet-officer", "--password", PASSWORD]).exit_code == 0
        assert run(cli, ["users", "add", "nobody", "--password", PASSWORD]).exit_code == 2
        assert run(cli, ["users", "passwd", "vet-officer", "--password", "short"]).exit_code == 2
        enrolled = run(cli, ["users", "totp", "vet-officer"])
        assert enrolled.exit_code == 0 and enrolled.output.startswith("otpauth://totp/Concord:vet-officer?secret=")
    finally:
        get_settings.cache_clear()
    c = client(sqlite_concord)
    assert sign_in(c, "vet-officer").status_code == 401  # the second factor is now required


def test_failed_sign_ins_are_counted_per_client_not_logged_one_by_one(hub):
    from sqlalchemy import func, select

    from concord.audit.models import AuditEntry

    hub.auth_refusals.limit = 3  # the hub's setting (CONCORD_AUTH_REFUSAL_LIMIT), small to keep the test short
    c = client(hub)
    codes = [sign_in(c, f"made-up-{n}").status_code for n in range(6)]
    assert codes == [401, 401, 401, 429, 429, 429]
    with hub.sessions() as s:
        logged = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth:token:refused"))
    assert logged == 1  # the window's first; the rest are one counted entry when it closes
    assert sign_in(c, "auditor").status_code == 303  # the right password still passes


def test_supervisor_sees_the_time_release_figures_the_api_gives_the_agency(hub):
    from datetime import datetime, time, timezone

    from concord.declarations.messages import RecordArrival
    from concord.trs.queries import trs_report

    did = submit(hub, declaration(lrn="LRN-TRS-1", items=[BANANAS]))
    hub.clock.advance(hours=5)
    hub.bus.handle(RecordArrival(declaration_id=did), subject=subjects(hub)["cus-officer"])
    hub.clock.advance(hours=3)
    for t in _tasks(hub, did):
        if t.open:
            hub.bus.handle(DecideTask(task_id=t.id, decision="approve", reason="ok"),
                           subject=subjects(hub)[f"{t.agency.lower()}-officer"])
    day = hub.clock.now().date()
    page = signed(hub, "cus-supervisor").get(f"/console/supervisor/trs?from={day - timedelta(days=2)}&to="
                                             f"{day + timedelta(days=1)}")
    assert page.status_code == 200, page.text
    at = lambda d: datetime.combine(d, time(0), tzinfo=timezone.utc)  # noqa: E731
    with hub.sessions() as s:
        rep = trs_report(s, subjects(hub)["cus-supervisor"], at(day - timedelta(days=2)), at(day + timedelta(days=1)),
                         as_of=hub.clock.now(), access=hub.access)
    assert rep["released"] == 1 and rep["arrival_to_release_hours"]["median"] == 3.0
    assert "3.0 h" in page.text and "<svg" in page.text and rep["longest_holder"] in page.text
    for agency in rep["agencies"]:
        assert f"<td>{agency}</td>" in page.text
    assert signed(hub, "nppo-officer").get("/console/supervisor/trs").status_code == 403
    bad = signed(hub, "cus-supervisor").get("/console/supervisor/trs?from=yesterday")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    assert "Délais de mainlevée" in signed(hub, "cus-supervisor").get("/console/supervisor/trs?lang=fr").text
