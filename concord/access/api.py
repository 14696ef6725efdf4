"""Who am I, and token management."""

from fastapi import APIRouter, Depends

from concord.access.deps import concord_app, current_subject
from concord.access.messages import IssueToken, RevokeToken
from concord.errors import Forbidden

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.get("/me")
def me(subject=Depends(current_subject)):
    return {"user": subject.user_id, "agency": subject.agency, "trader_id": subject.trader_id,
            "roles": sorted(subject.roles), "lead_agency": subject.lead}


@router.post("/tokens", status_code=201)
def issue(body: dict, subject=Depends(current_subject), app=Depends(concord_app)):
    if not subject.has("administrator"):
        raise Forbidden("only administrators issue tokens for others")
    return app.bus.handle(IssueToken(user_id=str(body.get("user", ""))), subject=subject)


@router.delete("/tokens/{token_id}")
def revoke(token_id: str, subject=Depends(current_subject), app=Depends(concord_app)):
    if not subject.has("administrator"):
        raise Forbidden("only administrators revoke tokens")
    return app.bus.handle(RevokeToken(token_id=token_id), subject=subject)
