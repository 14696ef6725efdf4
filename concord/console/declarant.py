"""The trader's further work on declarations: upload a batch (NDJSON as the API takes it, or CSV with one row per
goods item) with a result per line, amend through the lodging form, cancel, and supply the documents an agency
requested. Every write is the API's: lodge_batch, AmendDeclaration, CancelDeclaration, SupplyDocuments."""

from __future__ import annotations

import csv
import email.parser
import email.policy
import io

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from concord.clearance.messages import SupplyDocuments
from concord.clearance.schemas import SupplyIn
from concord.console.forms import (ITEM, ITEM_ROWS, PARTY, at_fields, document_of, item_rows, lodging_fields,
                                  lodging_form, renumber)
from concord.console.trader import _declaration, _lodge_form, _trader, rows_changed
from concord.console.web import BadForm, N_, form, redirect, render, signed_in, tr
from concord.declarations.grouping import MAX_BATCH, lodge_batch
from concord.declarations.messages import AmendDeclaration, CancelDeclaration
from concord.declarations.schemas import declaration_document
from concord.errors import ConcordError, InvalidDocument, Problem, problems_from

router = APIRouter(prefix="/console", include_in_schema=False)
UPLOAD_MAX_BYTES = 8 << 20  # a person's upload from the browser; a broker's system uses the API (64 MiB)
HEAD = ["lrn", "type", "office_of_entry", "arrival", "transport/mode", "transport/conveyance", "transport/containers"]
CSV_COLUMNS = HEAD + [f"{role}/{k}" for role in ("declarant", "importer", "exporter") for k in PARTY] + [
    f"item/{k}" for k in ITEM]


# -- batch upload --

async def multipart(request: Request, signed) -> dict:
    """A multipart/form-data body (the file input) as {name: bytes}, refused unless it carries the CSRF token.
    Parsed by the standard library's MIME parser: the console adds no dependency for one form."""
    from concord.console.auth import csrf_ok

    body = await request.body()
    if len(body) > UPLOAD_MAX_BYTES + 4096:
        raise BadForm(N_("The file is too large for the console; split it, or send it to the API."))
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise BadForm(N_("The form has expired or did not come from this console; reload the page and send it again."))
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + kind.encode("latin-1") + b"\r\n\r\n" + body)
    parts = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        if name and name not in parts:
            parts[name] = part.get_payload(decode=True) or b""
    if not csrf_ok(signed.csrf, parts.get("csrf", b"").decode("ascii", "replace")):
        raise BadForm(N_("The form has expired or did not come from this console; reload the page and send it again."))
    return parts


def _cell(column: str, value: str):
    if column == "transport/containers":
        return [c.strip().upper() for c in value.replace(",", " ").split()]
    if column == "item/documents":  # "N851:PC-2026-1, C085:LIC-7", as on the form
        return [{"type": t.strip().upper(), "reference": r.strip()}
                for t, _, r in (part.partition(":") for part in value.split(",") if part.strip())]
    if column == "arrival" and len(value) == 16:  # minutes without a zone, as the form's: UTC
        return value + ":00+00:00"
    return value


def csv_to_ndjson(data: bytes) -> tuple[bytes, list[list[int]]]:
    """One declaration per LRN (its rows: one a goods item, the declaration's columns read from its first row);
    returns the NDJSON the API takes and, for each of its lines, the CSV rows it came from."""
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InvalidDocument("the upload is empty", [Problem("", "send a header row, then one row per goods item")])
    header = [h.strip().lower() for h in rows[0]]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown or "lrn" not in header:
        raise InvalidDocument("the CSV header is not the console's", [Problem(
            "", f"unknown columns: {', '.join(unknown) or 'none'}; the columns are: {', '.join(CSV_COLUMNS)}")])
    groups: dict[str, tuple[dict, list, list]] = {}
    for n, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        cells = {h: c.strip() for h, c in zip(header, row) if c.strip()}
        lrn = cells.get("lrn", f"(row {n}: no LRN)")
        doc, items, numbers = groups.setdefault(lrn, ({}, [], []))
        if not numbers:
            for column in header:
                if column in cells and not column.startswith("item/"):
                    node = doc
                    *path, last = column.split("/")
                    for key in path:
                        node = node.setdefault(key, {})
                    node[last] = _cell(column, cells[column])
        item: dict = {}
        for column, value in cells.items():
            if column.startswith("item/"):
                node = item
                *path, last = column.removeprefix("item/").split("/")
                for key in path:
                    node = node.setdefault(key, {})
                node[last] = _cell(column, value)
        if item:
            items.append(item)
        numbers.append(n)
    if len(groups) > MAX_BATCH:
        raise InvalidDocument(f"the upload has {len(groups)} declarations", [
            Problem("", f"send at most {MAX_BATCH} declarations per upload; split the file")])
    lines, origin = [], []
    for doc, items, numbers in groups.values():
        lines.append(orjson.dumps(doc | ({"items": items} if items else {})))
        origin.append(numbers)
    return b"\n".join(lines), origin


def _results(outcome: dict, lines: list[bytes], origin: list[list[int]] | None) -> list[dict]:
    """Each result with the file's rows it answers and its problems pointed at those rows."""
    out = []
    for r in outcome["results"]:
        n = r["line"]
        rows = origin[n - 1] if origin else [n]
        try:
            lrn = orjson.loads(lines[n - 1]).get("lrn")
        except (orjson.JSONDecodeError, AttributeError):
            lrn = None
        problems = []
        for p in (r.get("error") or {}).get("problems", []):
            parts = p["pointer"].split("/")
            where = rows[0]
            if origin and len(parts) > 2 and parts[1] == "items" and parts[2].isdigit() and int(parts[2]) < len(rows):
                where = rows[int(parts[2])]
            problems.append({"row": where, "pointer": p["pointer"], "message": p["message"]})
        out.append({"rows": rows, "lrn": lrn, "id": r.get("id"), "replayed": r.get("replayed"),
                    "message": (r.get("error") or {}).get("message"), "problems": problems})
    return out


@router.get("/upload")
def upload_page(request: Request, signed=Depends(signed_in)):
    _trader(request, signed)
    return render(request, "upload.html", signed, columns=CSV_COLUMNS, outcome=None, results=[], error=None)


@router.post("/upload")
async def upload(request: Request, signed=Depends(signed_in)):
    """Lodge a file of declarations: NDJSON (one per line, as the API's batch) or CSV (one row per goods item)."""
    _trader(request, signed)
    parts = await multipart(request, signed)
    data = parts.get("file", b"")
    app = request.app.state.concord
    origin = None
    try:
        if len(data) > UPLOAD_MAX_BYTES:
            raise InvalidDocument("the file is too large for the console", [
                Problem("", f"send at most {UPLOAD_MAX_BYTES:,} bytes here; larger files go to the API")])
        if data.lstrip()[:1] not in (b"{", b""):  # not JSON lines: the console's CSV
            data, origin = csv_to_ndjson(data)
        outcome = await run_in_threadpool(lodge_batch, app.bus, signed.subject, data)
    except (ConcordError, UnicodeDecodeError, csv.Error) as e:
        message = e.message if isinstance(e, ConcordError) else str(e)
        detail = "; ".join(p.message for p in getattr(e, "problems", []))
        return render(request, "upload.html", signed, status=getattr(e, "status", 422), columns=CSV_COLUMNS,
                      outcome=None, results=[], error=f"{message}: {detail}" if detail else message)
    lines = [line for line in data.splitlines() if line.strip()]
    return render(request, "upload.html", signed, columns=CSV_COLUMNS, outcome=outcome,
                  results=_results(outcome, lines, origin), error=None)


# -- amend, cancel, supply documents --

def values_of(document: dict) -> dict:
    """The lodging form's values for a lodged document (the reverse of forms.document_of)."""
    rows = max(ITEM_ROWS, len(document.get("items") or []))
    values = {"rows": str(rows)}
    for pointer in lodging_fields(rows):
        node = document
        for key in pointer.strip("/").split("/"):
            node = node[int(key)] if isinstance(node, list) and key.isdigit() and int(key) < len(node) else (
                node.get(key) if isinstance(node, dict) else None)
            if node is None:
                break
        if node is None:
            continue
        if pointer == "/transport/containers":
            node = ", ".join(node)
        elif pointer.endswith("/documents"):
            node = ", ".join(f"{d['type']}:{d['reference']}" for d in node)
        elif pointer == "/arrival" and str(node).endswith("+00:00"):
            node = str(node)[:16]
        values[pointer] = str(node)
    return values


def _own(request, signed, declaration_id: str) -> tuple[dict, list]:
    _trader(request, signed)
    return _declaration(request, signed, declaration_id[:32])


@router.get("/declarations/{declaration_id}/amend")
def amend_page(declaration_id: str, request: Request, signed=Depends(signed_in)):
    d, _ = _own(request, signed, declaration_id)
    document = d.get("document") or {}  # up to the API's 999 items: the form holds them all
    return _lodge_form(request, signed, values_of(document), {}, [], action=f"/console/declarations/{d['id']}/amend",
                       heading=tr(request, "Amend declaration %(id)s", id=d["id"]))


@router.post("/declarations/{declaration_id}/amend")
async def amend(declaration_id: str, request: Request, signed=Depends(signed_in)):
    """A new version of the whole declaration (the API's PUT): risk and routing run again."""
    _trader(request, signed)
    values = await lodging_form(request, signed)
    app, did = request.app.state.concord, declaration_id[:32]
    if (changed := rows_changed(request, signed, values, action=f"/console/declarations/{did}/amend",
                                heading=tr(request, "Amend declaration %(id)s", id=did))) is not None:
        return changed
    try:
        document = declaration_document(orjson.dumps(document_of(values)))
        await run_in_threadpool(app.bus.handle, AmendDeclaration(declaration_id=did, document=document),
                                subject=signed.subject)
    except ConcordError as e:
        if e.status == 404:
            raise
        problems = {p.pointer: p.message for p in getattr(e, "problems", [])} or {"": e.message}
        errors, loose = at_fields(renumber(problems, values), lodging_fields(item_rows(values)))
        return _lodge_form(request, signed, values, errors, loose, status=e.status,
                           action=f"/console/declarations/{did}/amend",
                           heading=tr(request, "Amend declaration %(id)s", id=did))
    return redirect(f"/console/declarations/{did}?done=amended")


def _declaration_page(request, signed, declaration_id: str, status: int, failed: str):
    from concord.console.trader import POLL_SECONDS

    d, events = _declaration(request, signed, declaration_id)
    return render(request, "declaration.html", signed, status=status, d=d, events=events, poll=POLL_SECONDS,
                  document=d.get("document"), may_record_arrival=False, failed=failed)


@router.post("/declarations/{declaration_id}/cancel")
async def cancel(declaration_id: str, request: Request, signed=Depends(signed_in)):
    fields = await form(request, signed)
    _trader(request, signed)
    app, did = request.app.state.concord, declaration_id[:32]
    reason = fields.get("reason", "").strip()[:2000]
    try:
        if not reason:
            raise InvalidDocument("give the reason", [Problem("/reason", "1 to 2,000 characters")])
        await run_in_threadpool(app.bus.handle, CancelDeclaration(declaration_id=did, reason=reason),
                                subject=signed.subject)
    except ConcordError as e:
        if e.status == 404:
            raise
        detail = "; ".join(p.message for p in e.problems)
        return _declaration_page(request, signed, did, e.status, f"{e.message}: {detail}" if detail else e.message)
    return redirect(f"/console/declarations/{did}?done=cancelled")


@router.post("/declarations/{declaration_id}/documents")
async def supply(declaration_id: str, request: Request, signed=Depends(signed_in)):
    """Reply to an agency's request for documents (the API's SupplyDocuments): one reference per code asked."""
    fields = await form(request, signed)
    _trader(request, signed)
    app, did = request.app.state.concord, declaration_id[:32]
    documents = [{"type": k.removeprefix("doc_"), "reference": v.strip()} for k, v in fields.items()
                 if k.startswith("doc_") and v.strip()]
    try:
        given = SupplyIn.model_validate({"task_id": fields.get("task_id", ""), "documents": documents})
        await run_in_threadpool(app.bus.handle, SupplyDocuments(
            declaration_id=did, task_id=given.task_id, documents=[x.model_dump(exclude_none=True)
                                                                  for x in given.documents]),
            subject=signed.subject)
    except (ValidationError, ConcordError) as e:
        if isinstance(e, ConcordError) and e.status == 404:
            raise
        problems = problems_from(e) if isinstance(e, ValidationError) else e.problems
        message = "; ".join(f"{p.pointer}: {p.message}" for p in problems) or getattr(e, "message", "")
        return _declaration_page(request, signed, did, 422 if isinstance(e, ValidationError) else e.status,
                                 message)
    return redirect(f"/console/declarations/{did}?done=supplied")
