"""Console accounts (a password and an optional second factor for a user of the config) and their sessions."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base


class ConsoleAccount(Base):
    __tablename__ = "console_accounts"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # Argon2id, PHC string
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # base32; None: no second factor
    failures: Mapped[int] = mapped_column(default=0)  # failed sign-ins in a row
    locked_until: Mapped[datetime | None]
    changed_at: Mapped[datetime]


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's token: a leaked table
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))  # cannot be replayed as cookies
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_console_sessions_user", "user_id"),)
