"""The trader's further work in the console over HTTP: a batch upload (NDJSON and CSV) answered line by line, an
amendment through the lodging form, a reply to a request for documents, and a cancellation; none of it on another
trader's declaration."""

import re

import orjson

from concord.clearance.messages import DecideTask
from support import declaration, item, subjects
from test_console import BANANAS, csrf_of, hub, signed, submit, _tasks  # noqa: F401 (hub: the fixture)

CSV_HEAD = ("lrn,type,office_of_entry,arrival,transport/mode,transport/conveyance,transport/containers,"
            "declarant/id,declarant/name,declarant/country,declarant/address,importer/id,importer/name,"
            "importer/country,importer/address,exporter/id,exporter/name,exporter/country,exporter/address,"
            "item/hs_code,item/description,item/origin,item/quantity,item/unit,item/net_mass_kg,item/value/amount,"
            "item/value/currency,item/documents")
PARTIES = ('NL823456781,Holland Foods Import BV,NL,"Waalhaven Zuidzijde 21",NL823456781,Holland Foods Import BV,NL,'
           '"Waalhaven Zuidzijde 21",ECEXP000001,Guayaquil Banana Exporters SA,EC,"Av. 9 de Octubre 100"')


def upload(c, data: bytes, name: str, csrf: str | None = None):
    page = c.get("/console/upload")
    return c.post("/console/upload", data={"csrf": csrf or csrf_of(page.text)},
                  files={"file": (name, data, "application/octet-stream")})


def test_batch_upload_answers_each_line_ndjson_and_csv(hub):
    trader = signed(hub, "hollandfoods")
    good = orjson.dumps(declaration(lrn="LRN-UP-1"))
    bad = orjson.dumps(declaration(lrn="LRN-UP-2", office_of_entry="XXXXX"))
    r = upload(trader, good + b"\n" + bad + b"\n", "shift.ndjson")
    assert r.status_code == 200 and "1 lodged, 0 already lodged, 1 failed." in r.text
    assert re.search(r'href="/console/declarations/[A-Za-z0-9]+">', r.text) and "/office_of_entry" in r.text
    rows = [CSV_HEAD,
            f"LRN-CSV-1,IM,NLRTM,2026-01-07T08:00,sea,IMO9074729,MSCU1234566,{PARTIES},"
            f"610910,T-shirts,BD,1000,NAR,200,2800.00,EUR,",
            f"LRN-CSV-1,,,,,,,,,,,,,,,,,,,999999,Socks,BD,500,NAR,50,700.00,EUR,",
            f"LRN-CSV-2,IM,NLRTM,2026-01-07T08:00,sea,IMO9074729,MSCU1234566,{PARTIES},"
            f"610910,T-shirts,BD,1000,NAR,200,2800.00,EUR,"]
    r = upload(trader, "\n".join(rows).encode(), "shift.csv")
    assert "1 lodged, 0 already lodged, 1 failed." in r.text
    assert re.search(r"row 3, /items/1/hs_code", r.text)  # the second item of LRN-CSV-1: the file's row 3
    assert upload(trader, b"lrn,colour\nX,red\n", "x.csv").status_code == 422  # a column the console does not know
    assert upload(trader, good, "again.ndjson", csrf="forged").status_code == 400
    assert signed(hub, "cus-officer").get("/console/upload").status_code == 403


def test_trader_supplies_requested_documents_amends_and_cancels(hub):
    did = submit(hub, declaration(lrn="LRN-AMEND-1", items=[BANANAS]))
    nppo = next(t for t in _tasks(hub, did) if t.agency == "NPPO")
    hub.bus.handle(DecideTask(task_id=nppo.id, decision="request_documents", reason="certificate missing",
                              documents=["C085"]), subject=subjects(hub)["nppo-officer"])
    trader = signed(hub, "hollandfoods")
    page = trader.get(f"/console/declarations/{did}")
    assert f'id="doc-{nppo.id}-C085"' in page.text and "Amend this declaration" in page.text
    r = trader.post(f"/console/declarations/{did}/documents",
                    data={"csrf": csrf_of(page.text), "task_id": nppo.id, "doc_C085": "PC-2026-77"})
    assert r.status_code == 303 and "documents are sent" in trader.get(r.headers["location"]).text
    form = trader.get(f"/console/declarations/{did}/amend")
    assert form.status_code == 200 and 'value="LRN-AMEND-1"' in form.text and 'value="N851:N851-1"' in form.text
    fields = dict(re.findall(r'name="(/[^"]+|csrf|key)"[^>]*value="([^"]*)"', form.text))
    fields |= {"/type": "IM", "/transport/mode": "sea", "/items/0/quantity": "0"}
    r = trader.post(f"/console/declarations/{did}/amend", data=fields)
    assert r.status_code == 422 and 'id="f-items-0-quantity"' in r.text  # the API's fault, at the field
    r = trader.post(f"/console/declarations/{did}/amend", data=fields | {"/items/0/quantity": "250"})
    assert r.status_code == 303 and "amendment is lodged" in trader.get(r.headers["location"]).text
    with hub.sessions() as s:
        from concord.declarations.models import Declaration

        assert s.get(Declaration, did).version == 2
    other = signed(hub, "eurotech")  # another trader: the declaration does not exist for it
    assert other.get(f"/console/declarations/{did}/amend").status_code == 404
    token = csrf_of(other.get("/console/upload").text)
    assert other.post(f"/console/declarations/{did}/cancel", data={"csrf": token, "reason": "x"}).status_code == 404
    token = csrf_of(trader.get(f"/console/declarations/{did}").text)
    assert trader.post(f"/console/declarations/{did}/cancel", data={"csrf": token, "reason": ""}).status_code == 422
    r = trader.post(f"/console/declarations/{did}/cancel", data={"csrf": token, "reason": "order withdrawn"})
    assert r.status_code == 303 and "declaration is cancelled" in trader.get(r.headers["location"]).text


def _form_values(html: str) -> dict:
    return dict(re.findall(r'name="(/[^"]+|csrf|key|rows)"[^>]*value="([^"]*)"', html)) | {
        "/type": "IM", "/transport/mode": "sea"}


def test_trader_amends_a_declaration_of_more_items_than_the_empty_form_adding_and_removing_rows(hub):
    goods = [item("610910", f"T-shirts lot {n}", "BD", amount=f"{100 + n}.00") for n in range(5)]
    did = submit(hub, declaration(lrn="LRN-AMEND-5", items=goods))
    trader = signed(hub, "hollandfoods")
    form = trader.get(f"/console/declarations/{did}/amend")
    assert form.status_code == 200 and 'value="T-shirts lot 4"' in form.text and 'name="/items/5/hs_code"' not in form.text
    fields = _form_values(form.text)
    assert fields["rows"] == "5"
    more = trader.post(f"/console/declarations/{did}/amend", data=fields | {"rows_change": "add"})
    assert more.status_code == 200 and 'name="/items/5/hs_code"' in more.text  # one more row, nothing lodged
    fields = _form_values(more.text) | {"/items/5/hs_code": "610910", "/items/5/description": "T-shirts lot 5",
                                        "/items/5/origin": "BD", "/items/5/quantity": "10", "/items/5/unit": "NAR",
                                        "/items/5/net_mass_kg": "2", "/items/5/value/amount": "50.00",
                                        "/items/5/value/currency": "EUR"}
    fewer = trader.post(f"/console/declarations/{did}/amend", data=fields | {"remove/1": "1", "rows_change": "remove"})
    assert fewer.status_code == 200 and "T-shirts lot 1" not in fewer.text
    assert re.search(r'id="f-items-1-description"[^>]*value="T-shirts lot 2"', fewer.text)  # the rest moved up
    fields = _form_values(fewer.text)
    bad = trader.post(f"/console/declarations/{did}/amend", data=fields | {"/items/4/quantity": "0"})
    assert bad.status_code == 422 and re.search(r'id="f-items-4-quantity"[^>]*aria-invalid="true"', bad.text)
    done = trader.post(f"/console/declarations/{did}/amend", data=fields | {"remove/0": "1"})  # marked: not an item
    assert done.status_code == 303
    with hub.sessions() as s:
        from concord.declarations.models import Declaration, DeclarationVersion

        d = s.get(Declaration, did)
        latest = s.get(DeclarationVersion, (did, d.version))
        assert d.version == 2 and [i["description"] for i in latest.document["items"]] == [
            "T-shirts lot 2", "T-shirts lot 3", "T-shirts lot 4", "T-shirts lot 5"]
    lodge = trader.get("/console/lodge")
    assert 'name="rows_change" value="add"' in lodge.text and 'name="/items/3/hs_code"' not in lodge.text


def test_the_forms_hold_as_many_items_as_the_api_and_point_to_the_upload_for_many(hub):
    """The API takes 999 goods items: a declaration of 120 lodged through it is amended in the console whole; the
    lodging form grows past 40 rows; past 999 it offers no more; the page says why a file is quicker."""
    from concord.console.forms import MAX_ITEM_ROWS
    from concord.declarations.schemas import DeclarationIn

    assert MAX_ITEM_ROWS == DeclarationIn.model_fields["items"].metadata[-1].max_length == 999
    goods = [item("610910", f"T-shirts lot {n}", "BD", amount=f"{100 + n}.00") for n in range(120)]
    did = submit(hub, declaration(lrn="LRN-AMEND-120", items=goods))
    trader = signed(hub, "hollandfoods")
    form = trader.get(f"/console/declarations/{did}/amend")
    assert form.status_code == 200 and 'value="T-shirts lot 119"' in form.text
    assert "up to 999 goods items" in form.text and 'href="/console/upload"' not in form.text.split("<main")[1]
    fields = _form_values(form.text) | {"/items/119/description": "T-shirts lot 119, amended"}
    done = trader.post(f"/console/declarations/{did}/amend", data=fields)
    assert done.status_code == 303, done.text[:2000]
    with hub.sessions() as s:
        from concord.declarations.models import Declaration, DeclarationVersion

        latest = s.get(DeclarationVersion, (did, s.get(Declaration, did).version))
        assert len(latest.document["items"]) == 120
        assert latest.document["items"][119]["description"] == "T-shirts lot 119, amended"
    lodge = trader.get("/console/lodge")
    assert "For many items a file is quicker" in lodge.text and 'href="/console/upload">Upload a batch' in lodge.text
    page = trader.post("/console/lodge", data={"csrf": csrf_of(lodge.text), "rows": "40", "rows_change": "add"})
    assert page.status_code == 200 and 'name="/items/40/hs_code"' in page.text  # a 41st row
    full = trader.post("/console/lodge", data={"csrf": csrf_of(lodge.text), "rows": "999", "rows_change": "add"})
    assert 'name="/items/998/hs_code"' in full.text and 'name="/items/999/hs_code"' not in full.text
    assert 'name="rows_change" value="add"' not in full.text
    stuffed = {f"x{n}": "" for n in range(10_200)} | {"csrf": csrf_of(lodge.text)}
    assert trader.post("/console/lodge", data=stuffed).status_code == 400  # more fields than the form has


def test_search_and_list_within_days_of_lodging_as_the_api_filters(hub):
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from concord.access.messages import IssueToken
    from concord.app import create_app

    did = submit(hub, declaration(lrn="LRN-DAYS-1", items=[BANANAS]))
    day = hub.clock.now().date()
    before, after = (day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat()
    customs = signed(hub, "cus-officer")
    for query, seen in ((f"lodged_from={day}&lodged_to={day}", True), (f"lodged_to={before}", False),
                        (f"lodged_from={after}", False), (f"q=LRN-DAYS&lodged_from={day}", True),
                        (f"q=LRN-DAYS&lodged_from={after}", False)):
        page = customs.get(f"/console/declarations?{query}")
        assert page.status_code == 200 and (f"/console/declarations/{did}" in page.text) == seen, query
    assert f'value="{day}"' in customs.get(f"/console/declarations?lodged_from={day}").text  # kept in the form
    assert customs.get("/console/declarations?lodged_from=yesterday").status_code == 422
    api = TestClient(create_app(hub, background=False))
    auth = {"Authorization": f"Bearer {hub.bus.handle(IssueToken(user_id='cus-officer'))['token']}"}
    ids = lambda q: {d["id"] for d in api.get(f"/api/v1/declarations?{q}", headers=auth).json()["items"]}  # noqa: E731
    assert did in ids(f"lodged_from={day}&lodged_to={day}") and did not in ids(f"lodged_from={after}")
