"""Agreements, their signatures, access requests and break-glass grants."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base

PURPOSES = {
    "revenue_control": "Revenue control (duties, taxes, valuation)",
    "plant_animal_health": "Plant and animal health risk assessment",
    "public_health": "Public health (food, medicines)",
    "product_safety": "Product safety and conformity",
    "criminal_investigation": "Criminal investigation",
    "security_screening": "Security screening",
    "migration_control": "Migration control",
    "environmental_protection": "Environmental protection (CITES, waste)",
    "border_control_task": "The agency's own task on a declaration it is engaged on",
}
RESOURCES = ("declaration", "party", "goods_item", "inspection_result", "watchlist_entry", "incident", "notice")
LIVE = "active"


class SharingAgreement(Base):
    __tablename__ = "sharing_agreements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # one row per version
    key: Mapped[str] = mapped_column(String(40))  # stable across versions, e.g. MOU-CUS-POL-2026
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    recipients: Mapped[list]
    purposes: Mapped[list]
    legal_basis: Mapped[str] = mapped_column(Text)
    # [{resource, fields: [JSON pointers], condition: {hs_chapters, origins, offices, categories (incidents)}}]
    scopes: Mapped[list]
    handling: Mapped[dict]  # {onward_sharing, court_use: forbidden|with_permission|allowed, retention_days}
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(24))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    changed_at: Mapped[datetime]
    status_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_sharing_agreements_key", "key", "version", unique=True),)

    def parties(self) -> list[str]:
        return [self.provider, *self.recipients]


class AgreementSignature(Base):
    __tablename__ = "agreement_signatures"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("sharing_agreements.id"), primary_key=True)
    agency: Mapped[str] = mapped_column(String(16), primary_key=True)
    signed_by: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]


class AccessGrant(Base):
    """A time-limited right to one record: granted on an access request, or opened by break-glass."""

    __tablename__ = "access_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # request | break_glass
    requester: Mapped[str] = mapped_column(String(64))
    requester_agency: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(120))  # e.g. declaration/DCL..., watchlist_entry/WLE...
    purpose: Mapped[str] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | granted | refused | open (break-glass)
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_access_grants_lookup", "requester_agency", "resource", "status"),)
