"""Screening routes: screen a name, decide on a match, see and load the lists."""

from fastapi import APIRouter, Depends
from sqlalchemy import select

from concord.access.deps import concord_app, current_subject, purpose
from concord.bounds import BoundedRoute
from concord.errors import Forbidden
from concord.screening.handlers import list_view
from concord.screening.messages import LoadScreeningList, RecordMatchDecision, ScreenName
from concord.screening.models import ScreeningList
from concord.screening.schemas import ListIn, MatchDecisionIn, NameQuery

router = APIRouter(prefix="/api/v1/screening", tags=["screening"], route_class=BoundedRoute)


@router.post("")
def screen(body: NameQuery, why: str | None = Depends(purpose), subject=Depends(current_subject),
           app=Depends(concord_app)):
    """Screen a name; matches on lists you may not see answer hit / no-hit with the agency to ask."""
    return app.bus.handle(ScreenName(query=body.model_dump(), purpose=why), subject=subject)


@router.post("/decisions", status_code=201)
def decide(body: MatchDecisionIn, why: str | None = Depends(purpose), subject=Depends(current_subject),
           app=Depends(concord_app)):
    """Record a true match or a false positive; a cleared pair is not raised again until either side changes."""
    return app.bus.handle(RecordMatchDecision(**body.model_dump(), purpose=why), subject=subject)


@router.get("/lists")
def lists(subject=Depends(current_subject), app=Depends(concord_app)):
    """The loaded lists: name, owner, sharing rule, version and size (never their entries)."""
    if subject.is_trader:
        raise Forbidden("screening lists are for agency users")
    with app.sessions() as s:
        return [list_view(x) for x in s.scalars(select(ScreeningList).order_by(ScreeningList.name))]


@router.post("/lists", status_code=201, openapi_extra={"x-max-body-bytes": 64 << 20})  # whole sanctions lists
def load(body: ListIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Load a list, or its next version under the same name (administrators)."""
    return app.bus.handle(LoadScreeningList(**body.model_dump()), subject=subject)
