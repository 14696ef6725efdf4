"""Request bodies of officers' decisions and traders' supplied documents."""

from typing import Annotated, Literal

from pydantic import Field

from concord.bodies import StrictBody as Strict


class InspectionResult(Strict):
    result: Literal["compliant", "irregular"]
    findings: str = Field("", max_length=4000)
    revenue_recovered: float | None = Field(None, ge=0, le=1e15)


class DecisionIn(Strict):
    decision: Literal["approve", "approve_with_conditions", "request_documents", "hold", "require_inspection", "refuse"]
    reason: str = Field(min_length=1, max_length=2000)
    conditions: list[Annotated[str, Field(max_length=500)]] = Field([], max_length=50)
    documents: list[Annotated[str, Field(pattern=r"^[A-Z0-9]{3,8}$")]] = Field(
        [], max_length=50, description="document types requested from the trader, e.g. N851")
    inspection: InspectionResult | None = None
    decision_id: str | None = Field(None, max_length=32, description="client id; a retried request is recorded once")


class SuppliedDocumentIn(Strict):
    type: str = Field(pattern=r"^[A-Z0-9]{3,8}$")
    reference: str = Field(min_length=1, max_length=70)
    item: int | None = Field(None, ge=0, le=998)


class SupplyIn(Strict):
    task_id: str = Field(max_length=32)
    documents: list[SuppliedDocumentIn] = Field(min_length=1, max_length=100)


class AssignmentIn(Strict):
    officer: str = Field(min_length=1, max_length=64, description="the user id of an officer of the task's agency")
