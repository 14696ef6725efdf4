"""Who am I, and token management."""

from fastapi import APIRouter, Depends

from concord.access.deps import concord_app, current_subject
from concord.access.messages import IssueToken, RevokeToken
from pydantic import BaseModel, ConfigDict, Field

from concord.bounds import BoundedRoute
from concord.errors import Forbidden

router = APIRouter(prefix="/api/v1", tags=["identity"], route_class=BoundedRoute)


@router.get("/me")
def me(subject=Depends(current_subject)):
    return {"user": subject.user_id, "agency": subject.agency, "trader_id": subject.trader_id,
            "roles": sorted(subject.roles), "lead_agency": subject.lead}


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$", description="the user's id")


@router.post("/tokens", status_code=201)
def issue(body: TokenIn, subject=Depends(current_subject), app=Depends(concord_app)):
    if not subject.has("administrator"):
        raise Forbidden("only administrators issue tokens for others")
    return app.bus.handle(IssueToken(user_id=body.user), subject=subject)


@router.delete("/tokens/{token_id}")
def revoke(token_id: str, subject=Depends(current_subject), app=Depends(concord_app)):
    if not subject.has("administrator"):
        raise Forbidden("only administrators revoke tokens")
    return app.bus.handle(RevokeToken(token_id=token_id), subject=subject)
