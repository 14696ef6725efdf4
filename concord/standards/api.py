"""The standards' routes: a CUSDEC interchange in, its CUSRES (and CONTRL) out; SPS certificates for a declaration."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from concord.access.deps import concord_app, current_subject
from concord.bounds import BoundedRoute, read_body
from concord.standards import cusres, edifact

router = APIRouter(prefix="/api/v1", tags=["standards"], route_class=BoundedRoute)
EDIFACT_MEDIA = "application/edifact"
_ANSWER = {"content": {EDIFACT_MEDIA: {"schema": {"type": "string", "maxLength": 64 << 20}},
                       "application/json": {"schema": {"type": "object", "description": (
                           "the same answer in the error tree's form (Accept: application/json)")}}}}


async def _interchange(request: Request) -> bytes:
    return await read_body(request, edifact.MAX_INTERCHANGE_BYTES, "interchange")


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


_INTERCHANGE = {"schema": {"type": "string", "maxLength": edifact.MAX_INTERCHANGE_BYTES,
                           "description": "a UN/EDIFACT CUSDEC interchange (UNB ... UNZ), D.96B or D.21A"}}


# The body is read as bytes whatever its declared type; text/plain is documented too, as many EDI gateways send it.
@router.post("/edifact", openapi_extra={"requestBody": {"required": True, "content": {
    EDIFACT_MEDIA: _INTERCHANGE, "text/plain": _INTERCHANGE}},
    "x-max-body-bytes": edifact.MAX_INTERCHANGE_BYTES},
    responses={200: {"description": "one CUSRES per message (and a CONTRL for messages whose envelope is faulty)"}
               | _ANSWER, 422: {"description": "the interchange is unreadable: a CONTRL rejects it whole"} | _ANSWER})
def lodge_edifact(request: Request, body: bytes = Depends(_interchange), subject=Depends(current_subject),
                  app=Depends(concord_app)):
    """Lodge the declarations of a CUSDEC interchange; each message succeeds or fails alone.

    The answer is an interchange (application/edifact) holding one CUSRES per message: acceptance with Concord's
    id, or each fault with its segment and data element. With `Accept: application/json`, the same answer in the
    error tree's form (pointers and segments). An unreadable interchange answers 422 with a CONTRL."""
    from concord.errors import Forbidden

    if not subject.is_trader:
        raise Forbidden("only traders and brokers lodge declarations")
    try:
        answer = edifact.lodge_interchange(app.bus, subject, body)
        status = 200
    except edifact.InterchangeRejected as e:
        if _wants_json(request):
            raise
        answer, status = e.answer, 422
    if _wants_json(request):
        return cusres.as_json(answer)
    return Response(cusres.render(answer, app.clock.now()), status_code=status, media_type=EDIFACT_MEDIA)


async def _certificate(request: Request) -> bytes:
    from concord.standards.sps import MAX_CERTIFICATE_BYTES

    return await read_body(request, MAX_CERTIFICATE_BYTES, "certificate")


@router.post("/declarations/{declaration_id}/sps-certificates", openapi_extra={"requestBody": {
    "required": True, "content": {"application/xml": {"schema": {
        "type": "string", "maxLength": 2 << 20, "description": "a UN/CEFACT SPS certificate (rsm:SPSCertificate), as "
                                                               "the ePhyto hub carries it"}}}},
    "x-max-body-bytes": 2 << 20})
def supply_sps_certificate(declaration_id: str, body: bytes = Depends(_certificate), subject=Depends(current_subject),
                           app=Depends(concord_app)):
    """Supply the electronic SPS certificate (e.g. the N851 phytosanitary certificate) a declaration references.

    Each agency that takes the certificate (config section `sps_certificates`) finds on its task how the
    certificate's consignment compares with the declaration. Faults of the file are named by their path in it."""
    from concord.standards.messages import SupplySpsCertificate

    return app.bus.handle(SupplySpsCertificate(declaration_id=declaration_id, xml=body), subject=subject)
