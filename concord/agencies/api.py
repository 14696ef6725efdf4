"""The coordination config through the API: read the agencies, load a new config version."""

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from concord.access.deps import concord_app, current_subject
from concord.agencies.messages import LoadConfig
from concord.agencies.models import Agency
from concord.bounds import BoundedRoute, read_body
from concord.errors import Forbidden, InvalidDocument, Problem

CONFIG_MAX_BYTES = 1 << 20  # the demo config is 14 KB; a national one with every office and user fits

router = APIRouter(prefix="/api/v1", tags=["agencies"], route_class=BoundedRoute)


@router.get("/agencies")
def list_agencies(subject=Depends(current_subject), app=Depends(concord_app)):
    with app.sessions() as s:
        return [{"code": a.code, "name": a.name, "role": a.role, "contacts": a.contacts}
                for a in s.scalars(select(Agency).where(Agency.active).order_by(Agency.code))]


@router.put("/config", openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}},
                                      "x-max-body-bytes": CONFIG_MAX_BYTES})
async def load_config(request: Request, subject=Depends(current_subject), app=Depends(concord_app)):
    if not subject.has("administrator"):
        raise Forbidden("only administrators load the coordination config")
    raw = await read_body(request, CONFIG_MAX_BYTES, "config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidDocument("the config is not UTF-8 text; nothing was loaded", [Problem(
            "", f"byte {e.start} (0x{raw[e.start]:02x}) is not UTF-8: save the file as UTF-8, send it again")]) from None
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(app.bus.handle, LoadConfig(text=text, source="request body"), subject=subject)
