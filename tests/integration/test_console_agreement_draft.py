"""A liaison drafts an agreement in the console (the API's DraftAgreement), its faults at the inputs; the draft
then awaits the parties' signatures on the agreements screen."""

import re

from test_console import csrf_of, hub, signed  # noqa: F401 (hub: the fixture)

DRAFT = {"/key": "MOU-NPPO-FDA-CONSOLE", "/title": "Plant inspection results for food safety",
         "/provider": "NPPO", "/recipients": "fda", "/legal_basis": "Regulation (EU) 2017/625, Art. 102",
         "/valid_from": "2026-01-01T00:00", "/valid_until": "2027-01-01T00:00", "/purposes/1": "public_health",
         "/scopes/1/resource": "inspection_result", "/scopes/1/fields": "/result, /findings",
         "/handling/onward_sharing": "forbidden", "/handling/court_use": "with_permission",
         "/handling/retention_days": "365"}


def _draft(c, fields: dict):
    page = c.get("/console/agreements/new")
    assert page.status_code == 200
    return c.post("/console/agreements/new", data={"csrf": csrf_of(page.text)} | fields)


def _invalid(html: str, pointer: str) -> bool:
    fid = "f" + pointer.replace("/", "-")
    return bool(re.search(rf'id="{fid}"[^>]*aria-invalid="true"', html)) and f'id="e{fid}"' in html


def test_a_liaison_drafts_then_both_parties_sign(hub):
    nppo = signed(hub, "nppo-liaison")
    assert 'href="/console/agreements/new"' in nppo.get("/console/agreements").text
    bad = _draft(nppo, DRAFT | {"/scopes/1/fields": "result", "/purposes/1": ""})
    assert bad.status_code == 422
    assert _invalid(bad.text, "/scopes/1/fields")  # the API said /scopes/0/fields: the form's second row
    assert _invalid(bad.text, "/purposes/0")  # none given: said at the first purpose
    not_party = _draft(nppo, DRAFT | {"/provider": "VET"})
    assert not_party.status_code == 403 and _invalid(not_party.text, "/provider")
    done = _draft(nppo, DRAFT)
    assert done.status_code == 303 and done.headers["location"] == "/console/agreements?done=drafted"
    listed = nppo.get(done.headers["location"]).text
    assert "The draft is stored" in listed and "Plant inspection results for food safety" in listed
    taken = _draft(nppo, DRAFT)
    assert taken.status_code == 409 and _invalid(taken.text, "/key")
    card = listed.split("MOU-NPPO-FDA-CONSOLE v1")[1].split("</section>")[0]
    assert "Awaiting" in card and "FDA" in card  # then the existing screen: each party's liaison signs


def test_only_liaisons_draft(hub):
    for user in ("nppo-officer", "auditor", "hollandfoods"):
        assert signed(hub, user).get("/console/agreements/new").status_code == 403, user
    assert signed(hub, "nppo-liaison").post("/console/agreements/new", data=DRAFT).status_code == 400  # no token
