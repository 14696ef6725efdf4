"""Structured logs: one JSON object per line, with the request id of the request being served (CONCORD_LOG_FORMAT
=json); the default stays the human-readable lines."""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import datetime, timezone

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    """A record as JSON: time, level, logger, message, the request id when in a request, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def uvicorn_log_config(level: str) -> dict:
    """uvicorn's logging config with every logger (ours through the root) writing JSON lines to stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}}, "handlers": {"json": handler},
            "root": {"handlers": ["json"], "level": level.upper()},
            "loggers": {name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
                        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}}
