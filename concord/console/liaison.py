"""Liaison screens: the agreements the agency is party to or must sign; sign a proposed version, withdraw one."""

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from concord.agreements import api as agreements_api
from concord.agreements.messages import ChangeAgreementStatus, SignAgreement
from concord.console.web import tr, form, redirect, render, signed_in
from concord.errors import ConcordError, Forbidden

router = APIRouter(prefix="/console", include_in_schema=False)


def _liaison(request, signed, *, write: bool = False) -> None:
    if not (signed.subject.has("liaison") or (signed.subject.has("auditor") and not write)):
        raise Forbidden(tr(request, "Agreements are the work of liaison officers (auditors read them)."))


@router.get("/agreements")
def agreements(request: Request, signed=Depends(signed_in)):
    """The API's own list: agreements the agency is party to or must sign (auditors: all), newest version first."""
    _liaison(request, signed)
    rows = agreements_api.list_agreements(status=None, subject=signed.subject, app=request.app.state.concord)
    return render(request, "agreements.html", signed, agreements=rows, done=request.query_params.get("done"),
                  failed=None, newest=_newest(rows))


def _newest(rows: list) -> dict:
    """Each key's newest version: the card that offers a new version."""
    newest: dict = {}
    for r in rows:
        newest[r["key"]] = max(newest.get(r["key"], 0), r["version"])
    return newest


async def _act(request: Request, signed, command_of, done: str):
    fields = await form(request, signed)
    _liaison(request, signed, write=True)
    app = request.app.state.concord
    try:
        await run_in_threadpool(app.bus.handle, command_of(fields), subject=signed.subject)
    except ConcordError as e:
        if e.status == 404:
            raise
        rows = agreements_api.list_agreements(status=None, subject=signed.subject, app=app)
        return render(request, "agreements.html", signed, status=e.status, agreements=rows, done=None,
                      failed=e.message, newest=_newest(rows))
    return redirect(f"/console/agreements?done={done}")


@router.post("/agreements/{agreement_id}/sign")
async def sign(agreement_id: str, request: Request, signed=Depends(signed_in)):
    return await _act(request, signed, lambda fields: SignAgreement(agreement_id=agreement_id), "signed")


@router.post("/agreements/{agreement_id}/withdraw")
async def withdraw(agreement_id: str, request: Request, signed=Depends(signed_in)):
    """Withdraw an agreement: its status becomes revoked (the API's status change), for the reason given."""
    return await _act(request, signed, lambda fields: ChangeAgreementStatus(
        agreement_id=agreement_id, status="revoked", reason=fields.get("reason", "").strip()[:2000]), "withdrawn")
