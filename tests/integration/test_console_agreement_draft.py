"""A liaison drafts an agreement in the console (the API's DraftAgreement), its faults at the inputs; the draft
then awaits the parties' signatures on the agreements screen."""

import html
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


def _propose(c, key: str, change: dict):
    page = c.get(f"/console/agreements/{key}/new-version")
    assert page.status_code == 200, page.text
    values = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    values |= {name: html.unescape(value) for name, value in re.findall(
        r'<input id="[^"]+" name="([^"]+)" value="([^"]*)"', page.text)}
    values |= {name: html.unescape(text) for name, text in re.findall(
        r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', page.text)}
    for name, options in re.findall(r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', page.text, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        values[name] = chosen.group(1) if chosen else ""
    return page, c.post(f"/console/agreements/{key}/new-version", data=values | change)


def test_a_party_proposes_a_new_version_and_sees_what_it_changes(hub):
    key = "MOU-NPPO-POL-SEIZURES"
    nppo = signed(hub, "nppo-liaison")
    listed = nppo.get("/console/agreements").text
    assert f'href="/console/agreements/{key}/new-version"' in listed
    # the form starts from the version in force: nothing changed, nothing lost (23:59:59 keeps its seconds)
    page, bad = _propose(nppo, key, {"/scopes/0/fields": "category", "/handling/retention_days": "0"})
    assert "Filled in from version 1 (active)" in page.text and 'value="2028-12-31T23:59:59"' in page.text
    assert 'name="/key"' not in page.text  # the key is the agreement's identity
    assert bad.status_code == 422  # the API's pointers, at the inputs
    assert _invalid(bad.text, "/scopes/0/fields") and _invalid(bad.text, "/handling/retention_days")
    _, done = _propose(nppo, key, {"/handling/retention_days": "730", "/purposes/1": "public_health"})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/console/agreements/{key}/diff?a=1&b=2&done=proposed"
    diff = nppo.get(done.headers["location"]).text
    assert "Version 2 is proposed" in diff
    changed = [html.unescape(line) for line in re.findall(r'<span class="(?:add|del)">([^<]*)</span>', diff)]
    assert {'-    "retention_days": 1825', '+    "retention_days": 730', '+    "public_health"'} <= set(changed)
    assert not any("valid" in line or "/" in line for line in changed), changed  # the rest as it was
    with hub.sessions() as s:
        from concord.agreements.versions import versions

        v1, v2 = versions(s, key)[::-1]
    assert (v2.status, v2.handling["retention_days"], v2.purposes) == (
        "draft", 730, ["criminal_investigation", "public_health"])
    assert (v2.scopes, v2.valid_until, v2.legal_basis) == (v1.scopes, v1.valid_until, v1.legal_basis)
    assert v1.status == "active"  # in force until every party signs the new one
    card = nppo.get("/console/agreements").text.split(f"{key} v2")[1].split("</section>")[0]
    assert "Awaiting" in card and "POL" in card and f"/console/agreements/{v2.id}/sign" in card


def test_only_a_partys_liaison_proposes_a_version(hub):
    key = "MOU-NPPO-POL-SEIZURES"
    for user in ("nppo-officer", "hollandfoods"):
        assert signed(hub, user).get(f"/console/agreements/{key}/new-version").status_code == 403, user
    assert signed(hub, "nppo-liaison").get("/console/agreements/NO-SUCH-KEY/new-version").status_code == 404
    assert signed(hub, "nppo-liaison").post(f"/console/agreements/{key}/new-version",
                                            data={"/title": "x"}).status_code == 400  # no CSRF token
