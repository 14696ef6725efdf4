"""Request bodies of joint inspections."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Base64Bytes, Field, model_validator

from concord.bodies import StrictBody as Strict
from concord.bounds import Timestamp, media_of

MAX_PHOTO_BYTES = 2 << 20  # one photo, decoded
MAX_PHOTOS = 5
FINDING_BODY_BYTES = 16 << 20  # five photos in base64 (4/3 of their size) and the rest of the finding


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give the time zone, e.g. 2026-03-01T08:00:00+01:00")
    return value


When = Annotated[Timestamp, AfterValidator(_aware)]
Text = Annotated[str, Field(max_length=2000)]


class RequestIn(Strict):
    not_before: When | None = Field(None, description="no slot earlier than this (and never before the goods arrive)")
    facility: str | None = Field(None, pattern=r"^[A-Z0-9][A-Z0-9-]{1,15}$", description="a facility code of the config")


class AnswerIn(Strict):
    accept: bool
    reason: Text = Field("", description="required when declining: why the slot does not suit")


class RescheduleIn(Strict):
    reason: Text = Field(min_length=1)
    not_before: When | None = None


class NoShowIn(Strict):
    party: str = Field(pattern=r"^(trader|[A-Z][A-Z0-9_]{1,15})$", description="'trader' or an agency code")


class PhotoIn(Strict):
    media_type: Literal["image/jpeg", "image/png", "image/webp"]
    content: Base64Bytes = Field(max_length=MAX_PHOTO_BYTES * 4 // 3 + 4, description="the image, base64")

    @model_validator(mode="after")
    def is_what_it_says(self):
        if media_of(self.content) != self.media_type:
            raise ValueError(f"the content is not {self.media_type}: send the image file itself, base64-encoded")
        return self


class SampleIn(Strict):
    description: Text = Field(min_length=1)
    laboratory: str = Field(min_length=2, max_length=200)


Seal = Annotated[str, Field(min_length=1, max_length=40)]


class FindingIn(Strict):
    result: Literal["compliant", "irregular"]
    findings: str = Field(min_length=1, max_length=4000, description="what the officer saw")
    seals_before: list[Seal] = Field([], max_length=20, description="seal numbers found on the container")
    seals_after: list[Seal] = Field([], max_length=20, description="seal numbers put on after the examination")
    photos: list[PhotoIn] = Field([], max_length=MAX_PHOTOS)
    samples: list[SampleIn] = Field([], max_length=20, description="samples sent to a laboratory")


class LabResultIn(Strict):
    result: Literal["compliant", "irregular"]
    detail: Text = ""



class FindingIncidentIn(Strict):
    """What the officer adds to the draft a finding makes (everything else comes from the finding and declaration)."""

    category: Literal["seizure", "interception", "suspicious_consignment", "security_event", "health_event"] | None = \
        Field(None, description="default: suspicious_consignment for an irregular finding, else interception")
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    title: str | None = Field(None, min_length=1, max_length=200, description="default: the result, inspection, goods")
    summary: str | None = Field(None, max_length=4000, description="default: the finding's text and where it comes from")


class FindingNoticeIn(Strict):
    """What the officer decides for the notice a finding makes; its indicators come from the finding's declaration
    (containers, conveyance, parties, HS codes with their origins) unless given here."""

    purpose: str = Field(max_length=40, description="the purpose the agreements to the recipients must cover")
    recommended_action: Literal["monitor", "screen", "inspect", "hold", "seize", "report"] = "inspect"
    title: str | None = Field(None, min_length=1, max_length=200, description="default: the result and the goods")
    valid_until: Timestamp | None = Field(None, description="default: 30 days from now")
    feedback_due_at: Timestamp | None = Field(None, description="default: 7 days from now")
    recipients: list[Annotated[str, Field(max_length=16)]] | None = Field(
        None, max_length=50, description="only these of the entitled agencies (default: all of them)")
    indicators: dict | None = Field(None, description="instead of the finding's: as a notice takes them")
