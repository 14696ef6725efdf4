"""Routing rules as stored: data loaded from the coordination config, versioned with it."""

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base


class RoutingRule(Base):
    __tablename__ = "routing_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    description: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    task_type: Mapped[str] = mapped_column(String(20))
    sla_hours: Mapped[int]
    fields: Mapped[list]
    criteria: Mapped[dict]
    config_version: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
