"""The console's journeys in a real browser: Playwright driving Debian's Chromium (never a downloaded browser).

Each screen is checked with axe-core (a vendored copy, loaded from a local file) for serious or critical
violations, and photographed into docs/console/."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from concord.agencies.messages import LoadConfig
from concord.agreements.messages import DraftAgreement, SignAgreement
from concord.app import create_app
from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.console.auth import set_password
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from support import ROOT, demo_config_text, subjects

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE = Path(__file__).parents[1] / "browser" / "vendor" / "axe-4.14.1.min.js"
SHOTS = ROOT / "docs" / "console"
PASSWORD = "correct horse battery"
USERS = ("hollandfoods", "nppo-officer", "cus-officer", "pol-officer", "nppo-liaison", "auditor", "cus-supervisor")

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no {CHROMIUM}: apt-get install chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """The hub with the demo config, its console accounts and an agreement awaiting signatures, over HTTP."""
    import uvicorn

    hub = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'concord.db'}", var_dir=tmp_path))
    hub.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    for user in USERS:
        set_password(hub, user, PASSWORD)
    draft = hub.bus.handle(DraftAgreement(document={
        "key": "MOU-NPPO-CUS-RESULTS", "title": "Plant inspection results for customs risk analysis",
        "provider": "NPPO",
        "recipients": ["CUS"], "purposes": ["plant_animal_health"], "legal_basis": "Regulation (EU) 2017/625, Art. 102",
        "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2030-01-01T00:00:00+00:00",
        "scopes": [{"resource": "inspection_result", "fields": ["/result"]}]}), subject=subjects(hub)["cus-liaison"])
    hub.bus.handle(SignAgreement(agreement_id=draft["id"]), subject=subjects(hub)["cus-liaison"])
    _enforcement(hub)
    _open_customs_task(hub)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    hub.close()


def _enforcement(hub) -> None:
    """A seizure of plant health's, a joint operation on it with the police, and a notice to the food authority."""
    from datetime import timedelta

    from concord.agreements.messages import RequestAccess
    from concord.incidents.messages import IssueNotice, OpenOperation, RecordIncident
    from concord.risk.messages import AddWatchlistEntry

    who, now = subjects(hub), hub.clock.now()
    inc = hub.bus.handle(RecordIncident(document={
        "category": "seizure", "severity": "high", "title": "Cocaine in banana boxes", "summary": "120 kg",
        "occurred_at": now.isoformat(), "location": {"office": "NLRTM", "place": "Quay 7"},
        "found": [{"goods": "cocaine", "origin": "EC", "concealment": "false floor"}]}), subject=who["nppo-officer"])
    hub.bus.handle(OpenOperation(document={
        "name": "Operation Banana Split", "incident_id": inc["id"], "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=14)).isoformat(), "members": [{"user_id": "pol-officer", "role": "member"}]}),
        subject=who["nppo-officer"])
    hub.bus.handle(IssueNotice(document={
        "title": "Bananas from Guayaquil used for cocaine", "purpose": "public_health",
        "indicators": {"hs": ["0901"], "origins": ["EC"]}, "recommended_action": "inspect",
        "valid_until": (now + timedelta(days=30)).isoformat(),
        "feedback_due_at": (now + timedelta(days=7)).isoformat()}), subject=who["nppo-officer"])
    entry = hub.bus.handle(AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Verdant Seeds Trading Ltd", "country": "KE"}, "reason": "uncertified seed",
        "severity": "medium", "expires_at": (now + timedelta(days=30)).isoformat()}), subject=who["nppo-officer"])
    hub.bus.handle(RequestAccess(resource=f"watchlist_entry/{entry['id']}", provider="NPPO", purpose="public_health",
                                 justification="importer named on a food alert"), subject=who["fda-officer"])


def _open_customs_task(hub) -> None:
    """A declaration drawn for customs control (every one drawn, then the demo's rate again): an open task of
    customs' for its supervisor to give to an officer."""
    from support import declaration

    hub.bus.handle(LoadConfig(text=demo_config_text(random_rate=1.0), source="every declaration controlled"))
    hub.bus.handle(SubmitDeclaration(document=parse_declaration(declaration(lrn="LRN-BROWSER-DRAWN")).model_dump(
        mode="json")), subject=subjects(hub)["hollandfoods"])
    hub.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))


class Screens:
    """Photographs each screen and runs axe-core on it; keeps the results for the report."""

    def __init__(self):
        self.axe: dict = {}
        SHOTS.mkdir(parents=True, exist_ok=True)

    def check(self, page, name: str) -> None:
        page.add_script_tag(path=str(AXE))
        found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))""")
        self.axe[name] = found
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        bad = [v for v in found if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name}: {bad}"


def sign_in(browser, base: str, user: str):
    context = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})  # axe is injected
    page = context.new_page()
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def test_console_journeys(server, monkeypatch):
    from concord.console import trader

    # the declaration page's fallback poll out of the way: "released without reloading" is then the stream's doing
    monkeypatch.setattr(trader, "POLL_SECONDS", 600)
    screens = Screens()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            _journeys(browser, server, screens)
        finally:
            browser.close()
            (SHOTS / "axe-results.json").write_text(json.dumps(screens.axe, indent=1, sort_keys=True) + "\n")


def _journeys(browser, base: str, screens: Screens) -> None:
    expect = playwright.expect
    # axe itself finds a planted fault: an image without a text alternative is a critical violation
    probe = browser.new_context(bypass_csp=True).new_page()
    probe.set_content('<html lang="en"><title>probe</title><main><img src="data:,"></main></html>')
    probe.add_script_tag(path=str(AXE))
    assert "critical" in probe.evaluate("async () => (await axe.run()).violations.map(v => v.impact)")
    probe.context.close()
    # Sign-in page, in French: the language switch
    first = browser.new_context(bypass_csp=True).new_page()
    first.goto(f"{base}/console/sign-in?lang=fr")
    expect(first.get_by_role("heading", name="Se connecter")).to_be_visible()
    screens.check(first, "sign-in-fr")
    first.context.close()

    # A trader lodges through the form; the page flags a field; the trader fixes it
    trader = sign_in(browser, base, "hollandfoods")
    trader.get_by_role("link", name="Lodge a declaration").click()
    fill = {"Local reference number (LRN)": "LRN-BROWSER-1", "Office of entry (UN/LOCODE)": "NLRTM",
            "Conveyance (IMO number, flight, plate)": "IMO9074729", "Containers (separated by commas)": "MSCU1234566"}
    for label, value in fill.items():
        trader.get_by_label(label).fill(value)
    trader.locator("#f-arrival").fill("2026-01-07T08:00")
    for role, party in (("declarant", ("NL823456781", "Holland Foods Import BV", "NL", "Waalhaven Zuidzijde 21")),
                        ("importer", ("NL823456781", "Holland Foods Import BV", "NL", "Waalhaven Zuidzijde 21")),
                        ("exporter", ("ECEXP000001", "Guayaquil Banana Exporters SA", "EC", "Av. 9 de Octubre"))):
        for key, value in zip(("id", "name", "country", "address"), party):
            trader.locator(f"#f-{role}-{key}").fill(value)
    item = {"hs_code": "080390", "description": "Fresh bananas", "origin": "XX", "quantity": "100", "unit": "KGM",
            "net_mass_kg": "100", "value-amount": "5000.00", "value-currency": "EUR", "documents": "N851:PC-1"}
    for key, value in item.items():
        trader.locator(f"#f-items-0-{key}").fill(value)
    trader.get_by_role("button", name="Lodge", exact=True).click()
    origin = trader.locator("#f-items-0-origin")
    expect(origin).to_have_attribute("aria-invalid", "true")
    expect(trader.locator("#ef-items-0-origin")).to_be_visible()
    expect(trader.locator(".error-summary")).to_be_focused()
    screens.check(trader, "trader-lodge-flagged")
    origin.fill("EC")
    trader.get_by_role("button", name="Lodge", exact=True).click()
    expect(trader.get_by_role("heading", name=re.compile("LRN-BROWSER-1"))).to_be_visible()
    did = trader.url.rsplit("/", 1)[1]
    screens.check(trader, "trader-declaration")

    # Plant health decides in its queue
    nppo = sign_in(browser, base, "nppo-officer")
    expect(nppo.get_by_role("heading", name="Task queue of NPPO")).to_be_visible()
    screens.check(nppo, "officer-queue")
    nppo.get_by_role("row", name=re.compile(did)).get_by_role("link").click()
    expect(nppo.get_by_text("Fresh bananas")).to_be_visible()
    screens.check(nppo, "officer-task")
    nppo.locator("#f-decision").select_option("approve")
    nppo.get_by_label("Reason").fill("phytosanitary certificate PC-1 checked")
    nppo.get_by_role("button", name="Record the decision").click()
    expect(nppo.get_by_role("status")).to_contain_text("Decision recorded")
    # ... and works its seizure: the board, the incident, the operation's thread, the notice's feedback so far
    nppo.get_by_role("link", name="Incidents").click()
    screens.check(nppo, "incident-board")
    nppo.get_by_role("link", name="Cocaine in banana boxes").click()
    expect(nppo.get_by_text("false floor")).to_be_visible()
    screens.check(nppo, "incident")
    nppo.goto(f"{base}/console/operations")
    nppo.get_by_role("link", name="Operation Banana Split").click()
    nppo.get_by_label("Message to the operation").fill("Police on quay 7 at 06:00")
    nppo.get_by_role("button", name="Post").click()
    expect(nppo.get_by_role("status")).to_contain_text("message is posted")
    screens.check(nppo, "operation")
    nppo.goto(f"{base}/console/notices")
    nppo.get_by_role("link", name="Bananas from Guayaquil used for cocaine").click()
    screens.check(nppo, "notice")
    for what in ("incidents", "operations", "notices"):  # the forms that create them (a check, not a journey)
        nppo.goto(f"{base}/console/{what}/new")
        screens.check(nppo, f"{what}-new")

    # Customs' supervisor gives an open task to an officer
    supervisor = sign_in(browser, base, "cus-supervisor")
    supervisor.get_by_role("link", name="Supervision").click()
    screens.check(supervisor, "supervisor-workload")
    supervisor.locator("form.inline select").first.select_option("cus-analyst")
    supervisor.locator("form.inline").first.get_by_role("button", name="Reassign").click()
    expect(supervisor.get_by_role("status")).to_contain_text("is reassigned")
    expect(supervisor.get_by_role("link", name=re.compile(r"cus-analyst"))).to_be_visible()
    supervisor.get_by_role("link", name=re.compile("^Time release figures")).click()
    screens.check(supervisor, "supervisor-trs")
    supervisor.goto(f"{base}/console/supervisor/lanes")
    expect(supervisor.get_by_role("heading", name="Lanes and hit rates per week")).to_be_visible()
    screens.check(supervisor, "supervisor-lanes")

    # Customs records arrival
    customs = sign_in(browser, base, "cus-officer")
    customs.goto(f"{base}/console/declarations/{did}")
    expect(customs.get_by_role("button", name="Record arrival")).to_be_visible()
    screens.check(customs, "customs-arrival")
    customs.get_by_label("Where the goods are presented").fill("ECT Delta terminal")
    customs.get_by_role("button", name="Record arrival").click()

    # The trader, still on the declaration's page, sees "released" without reloading
    expect(trader.locator("#declaration-status")).to_have_text("released", timeout=10_000)
    trader.get_by_role("link", name="Notifications").click()
    expect(trader.get_by_role("link", name=did).first).to_be_visible()
    screens.check(trader, "trader-notifications")
    trader.get_by_role("link", name="Upload a batch").click()
    trader.get_by_label(re.compile("^File")).set_input_files(files=[{
        "name": "shift.ndjson", "mimeType": "application/x-ndjson",
        "buffer": json.dumps({"lrn": "LRN-BROWSER-2"}).encode()}])
    trader.get_by_role("button", name="Upload", exact=True).click()
    expect(trader.get_by_role("status")).to_contain_text("0 lodged, 0 already lodged, 1 failed.")
    screens.check(trader, "trader-upload-results")

    # A police officer without a purpose sees nothing of it
    police = sign_in(browser, base, "pol-officer")
    police.goto(f"{base}/console/declarations?q=LRN-BROWSER-1")
    expect(police.get_by_role("status")).to_have_text("0 declarations.")
    screens.check(police, "police-search-empty")
    police.goto(f"{base}/console/declarations/{did}")
    expect(police.get_by_role("alert")).to_contain_text("not found")

    # A liaison signs an agreement
    liaison = sign_in(browser, base, "nppo-liaison")
    screens.check(liaison, "liaison-agreements")
    liaison.get_by_role("button", name="Sign for NPPO").click()
    expect(liaison.get_by_role("status")).to_contain_text("signature is recorded")
    # ... answers an access request, and reads the agency's access report
    liaison.get_by_role("link", name="Access requests and break-glass").click()
    screens.check(liaison, "liaison-access-requests")
    liaison.get_by_label("Reason").fill("named on the alert")
    liaison.get_by_role("button", name="Record the decision").click()
    expect(liaison.get_by_role("status")).to_contain_text("decision is recorded")
    liaison.goto(f"{base}/console/access-report")
    screens.check(liaison, "liaison-access-report")
    # ... proposes a new version of an agreement, fixes the field the page flagged, and reads what it changes
    liaison.goto(f"{base}/console/agreements")
    key = "MOU-NPPO-POL-SEIZURES"
    liaison.locator(f'a[href="/console/agreements/{key}/new-version"]').click()
    expect(liaison.get_by_role("heading", name=f"Propose a new version of {key}")).to_be_visible()
    liaison.get_by_label("Retention (days)").fill("0")
    liaison.get_by_role("button", name=f"Propose a new version of {key}").click()
    expect(liaison.get_by_label("Retention (days)")).to_have_attribute("aria-invalid", "true")
    screens.check(liaison, "liaison-new-version-flagged")
    liaison.get_by_label("Retention (days)").fill("730")
    liaison.get_by_role("button", name=f"Propose a new version of {key}").click()
    expect(liaison.get_by_role("status")).to_contain_text("Version 2 is proposed")
    expect(liaison.locator("pre.diff")).to_contain_text('"retention_days": 730')
    screens.check(liaison, "liaison-agreement-diff")
    liaison.goto(f"{base}/console/agreements/new")
    screens.check(liaison, "liaison-agreement-draft")

    # An auditor verifies a proof in the page
    auditor = sign_in(browser, base, "auditor")
    auditor.get_by_label("Action (prefix, e.g. declaration:)").fill("agreement:")
    auditor.get_by_role("button", name="Filter").click()
    screens.check(auditor, "auditor-log")
    auditor.locator("tbody tr").first.get_by_role("link").click()
    for _ in range(10):  # a checkpoint is signed within a second of the entry; until then there is no proof
        if "No checkpoint" not in auditor.locator("#proof-result").inner_text(timeout=5_000):
            break
        time.sleep(0.5)
        auditor.reload()
    expect(auditor.locator("#proof-result")).to_contain_text("Verified", timeout=10_000)
    screens.check(auditor, "auditor-proof")
