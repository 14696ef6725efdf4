"""Agencies and the versioned coordination config they are loaded from."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base


class Agency(Base):
    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # "lead" (customs) or "partner"
    contacts: Mapped[list]  # designated points of contact
    active: Mapped[bool] = mapped_column(default=True)


class ConfigVersion(Base):
    """Every accepted coordination config, kept whole, so a change can be traced and rolled back."""

    __tablename__ = "config_versions"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict]
