"""The liaison's console beyond signing: access requests answered at the field, break-glass openings listed for
review, the access report with its filters and CSV export, and the changes between two versions of an agreement;
each only for the agencies the API shows them to."""

from datetime import timedelta

from concord.agreements.messages import BreakGlass, DraftAgreement, RequestAccess, SignAgreement
from concord.risk.messages import AddWatchlistEntry
from support import subjects
from test_console import csrf_of, hub, signed  # noqa: F401 (hub: the fixture)

AGREEMENT = {"key": "MOU-NPPO-CUS-DIFF", "title": "Plant inspection results to customs", "provider": "NPPO",
             "recipients": ["CUS"], "purposes": ["plant_animal_health"],
             "legal_basis": "Regulation (EU) 2017/625, Art. 102", "valid_from": "2026-01-01T00:00:00+00:00",
             "valid_until": "2027-01-01T00:00:00+00:00", "scopes": [{"resource": "inspection_result",
                                                                     "fields": ["/result"]}]}


def test_access_requests_break_glass_and_the_access_report(hub):
    who = subjects(hub)
    later = (hub.clock.now() + timedelta(days=30)).isoformat()
    entry = hub.bus.handle(AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Verdant Seeds Trading Ltd", "country": "KE"},
        "reason": "uncertified seed potatoes", "severity": "medium", "expires_at": later}), subject=who["nppo-officer"])
    resource = f"watchlist_entry/{entry['id']}"
    asked = hub.bus.handle(RequestAccess(resource=resource, provider="NPPO", purpose="public_health",
                                         justification="importer named on a food alert"), subject=who["fda-officer"])
    hub.bus.handle(BreakGlass(resource=resource, provider="NPPO", purpose="public_health",
                              justification="outbreak traced to this seller, acting now"), subject=who["fda-officer"])
    liaison = signed(hub, "nppo-liaison")
    page = liaison.get("/console/access-requests")
    assert "importer named on a food alert" in page.text and "outbreak traced to this seller" in page.text
    assert f'action="/console/access-requests/{asked["id"]}/decision"' in page.text
    url = f"/console/access-requests/{asked['id']}/decision"
    r = liaison.post(url, data={"csrf": csrf_of(page.text), "grant": "yes", "reason": "", "hours": "2"})
    assert r.status_code == 422 and f'id="e-reason-{asked["id"]}"' in r.text
    r = liaison.post(url, data={"csrf": csrf_of(page.text), "grant": "yes", "reason": "named on the alert",
                                "hours": "2"})
    assert r.status_code == 303 and "decision is recorded" in liaison.get(r.headers["location"]).text
    police = signed(hub, "pol-officer")  # neither provider nor requester: none of it
    assert "importer named on a food alert" not in police.get("/console/access-requests").text
    r = police.post(url, data={"csrf": csrf_of(police.get("/console/access-requests").text), "grant": "yes",
                               "reason": "mine now", "hours": "2"})
    assert r.status_code in (403, 404, 409)
    # The access report: the liaison's own agency; CSV with the API's columns; others refused
    report = liaison.get("/console/access-report")
    assert report.status_code == 200 and "access:" in report.text and 'href="/console/access-report.csv?agency=NPPO"' \
        in report.text
    assert "0 entries" in liaison.get("/console/access-report?action=nothing:").text
    csv = liaison.get("/console/access-report.csv?agency=NPPO")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "seq,at,actor,agency,action,resource,purpose,agreement,outcome,count"
    assert "fda-officer" in csv.text
    assert liaison.get("/console/access-report?agency=POL").status_code == 403  # another agency's report
    assert police.get("/console/access-report").status_code == 403
    assert signed(hub, "auditor").get("/console/access-report?agency=NPPO").status_code == 200
    assert liaison.get("/console/access-report?since=yesterday").status_code == 422


def test_what_changed_between_two_versions_of_an_agreement(hub):
    who = subjects(hub)
    v1 = hub.bus.handle(DraftAgreement(document=AGREEMENT), subject=who["cus-liaison"])
    hub.bus.handle(SignAgreement(agreement_id=v1["id"]), subject=who["cus-liaison"])
    hub.bus.handle(SignAgreement(agreement_id=v1["id"]), subject=who["nppo-liaison"])
    hub.bus.handle(DraftAgreement(document=AGREEMENT | {"title": "Plant inspection results and photos to customs"},
                                  amend=True), subject=who["cus-liaison"])
    liaison = signed(hub, "nppo-liaison")
    assert 'href="/console/agreements/MOU-NPPO-CUS-DIFF/diff?b=2"' in liaison.get("/console/agreements").text
    page = liaison.get("/console/agreements/MOU-NPPO-CUS-DIFF/diff")
    assert page.status_code == 200
    assert '<span class="del">-  &#34;title&#34;: &#34;Plant inspection results to customs&#34;,</span>' in page.text
    assert '<span class="add">+  &#34;title&#34;: &#34;Plant inspection results and photos to customs&#34;,' in page.text
    assert "same" in liaison.get("/console/agreements/MOU-NPPO-CUS-DIFF/diff?a=2&b=2").text
    assert signed(hub, "pol-officer").get("/console/agreements/MOU-NPPO-CUS-DIFF/diff").status_code == 403
    assert liaison.get("/console/agreements/MOU-NOT-THERE/diff").status_code == 404
