"""Creating incidents, operations and notices from the console: the API's commands with the form's document, the
handlers' 422 problems shown at the inputs they name (rows renumbered back to the form's), and the forms kept to
agencies' officers."""

import re
from datetime import timedelta

from test_console import csrf_of, hub, signed  # noqa: F401 (hub: the fixture)


def _post(c, what: str, fields: dict, page: str | None = None):
    page = page or c.get(f"/console/{what}/new").text
    return c.post(f"/console/{what}/new", data={"csrf": csrf_of(page)} | fields)


def _invalid(html: str, pointer: str) -> bool:
    fid = "f" + pointer.replace("/", "-")
    return bool(re.search(rf'id="{fid}"[^>]*aria-invalid="true"', html)) and f'id="e{fid}"' in html


INCIDENT = {"/category": "seizure", "/severity": "high", "/title": "Cocaine in pineapple crates",
            "/summary": "42 kg behind a false wall", "/occurred_at": "2026-01-05T07:30", "/location/office": "NLRTM",
            "/location/place": "Quay 9", "/found/0/goods": "cocaine", "/found/0/origin": "CR",
            "/found/0/hs_code": "0804", "/containers": "mscu1234566", "/indicators/hs": "0804"}


def test_an_officer_reports_an_incident_and_fixes_what_the_page_flagged(hub):
    nppo = signed(hub, "nppo-officer")
    page = nppo.get("/console/incidents/new")
    assert page.status_code == 200 and 'name="/found/0/goods"' in page.text and "<textarea" in page.text
    bad = _post(nppo, "incidents", INCIDENT | {"/title": "", "/found/0/origin": "XX"}, page.text)
    assert bad.status_code == 422
    assert _invalid(bad.text, "/title") and _invalid(bad.text, "/found/0/origin")
    assert 'href="#f-found-0-origin"' in bad.text and "Cocaine" not in bad.text.split("<form")[0]
    assert 'value="mscu1234566"' in bad.text  # what was typed comes back as typed
    done = _post(nppo, "incidents", INCIDENT)
    assert done.status_code == 303 and re.match(r"/console/incidents/INC\w+\?done=created", done.headers["location"])
    shown = nppo.get(done.headers["location"]).text
    assert "The incident is recorded." in shown and "Cocaine in pineapple crates" in shown and "MSCU1234566" in shown
    assert "/console/operations/new?incident=" in shown  # the owner may open an operation on it from here


def test_an_operation_opens_on_the_incident_with_its_members_rows_kept_in_place(hub):
    nppo = signed(hub, "nppo-officer")
    inc = _post(nppo, "incidents", INCIDENT).headers["location"].split("/")[-1].split("?")[0]
    page = nppo.get(f"/console/operations/new?incident={inc}")
    assert f'value="{inc}"' in page.text
    now = hub.clock.now()
    fields = {"/name": "Operation Pineapple", "/incident_id": inc, "/starts_at": now.strftime("%Y-%m-%dT%H:%M"),
              "/ends_at": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
              "/members/2/user_id": "nobody-here", "/members/2/role": "member"}  # rows 0 and 1 left blank
    bad = _post(nppo, "operations", fields, page.text)
    assert bad.status_code == 422 and _invalid(bad.text, "/members/2/user_id")  # the API said /members/0/user_id
    late = _post(nppo, "operations", fields | {"/ends_at": fields["/starts_at"], "/members/2/user_id": "pol-officer"})
    assert late.status_code == 422 and "ends_at must be after starts_at" in late.text
    other = _post(nppo, "operations", fields | {"/incident_id": "INC-NOT-YOURS", "/members/2/user_id": "pol-officer"})
    assert other.status_code == 404 and _invalid(other.text, "/incident_id")  # the API's 404, at the input
    done = _post(nppo, "operations", fields | {"/members/2/user_id": "pol-officer"})
    assert done.status_code == 303
    shown = nppo.get(done.headers["location"]).text
    assert "The operation is open." in shown and "Operation Pineapple" in shown and "pol-officer" in shown


def test_a_notice_is_issued_and_its_dates_are_checked_at_the_inputs(hub):
    nppo = signed(hub, "nppo-officer")
    now = hub.clock.now()
    at = lambda days: (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")  # noqa: E731
    fields = {"/title": "Pineapples from Limon", "/summary": "concealment behind false walls",
              "/purpose": "public_health", "/recommended_action": "inspect", "/indicators/hs": "0804",
              "/indicators/origins": "cr", "/valid_until": at(30), "/feedback_due_at": at(7)}
    bad = _post(nppo, "notices", fields | {"/valid_until": at(-1)})
    assert bad.status_code == 422 and _invalid(bad.text, "/valid_until")
    empty = _post(nppo, "notices", {k: v for k, v in fields.items() if not k.startswith("/indicators")})
    assert empty.status_code == 422 and _invalid(empty.text, "/indicators/hs")  # "/indicators is required"
    done = _post(nppo, "notices", fields)
    assert done.status_code == 303, done.text
    shown = nppo.get(done.headers["location"]).text
    assert "The notice is issued." in shown and "Pineapples from Limon" in shown


def test_the_forms_are_for_agencies_officers_and_need_the_sessions_token(hub):
    for user in ("hollandfoods", "nppo-liaison", "auditor"):
        c = signed(hub, user)
        for what in ("incidents", "operations", "notices"):
            assert c.get(f"/console/{what}/new").status_code == 403, (user, what)
    nppo = signed(hub, "nppo-officer")
    assert nppo.post("/console/incidents/new", data=INCIDENT).status_code == 400  # no CSRF token
    assert "Report an incident" in nppo.get("/console/incidents").text
    assert "Signaler un incident" in nppo.get("/console/incidents/new?lang=fr").text
