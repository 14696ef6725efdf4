"""The API's edge: what a request may hold, checked before a handler or a database sees it.

A database refuses some text that Python accepts (PostgreSQL: NUL characters, strings over a column's length,
integers past a column's range; both databases: unpaired surrogates), and a refusal there is a 500 that can take other
lodgings of the same transaction down with it. So every limit is stated here or in a schema, and a request
over one is answered 422 with the place to fix, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BeforeValidator

from concord.errors import InvalidDocument, Problem, TooLarge, pointer

MAX_SEQ = 2**31 - 1  # audit sequence numbers and tree sizes: INTEGER columns (32-bit on PostgreSQL)
MAX_OFFSET = 10**9  # pages past a billion rows are a mistake, and a bigger number would overflow the query
MAX_PAGE = 500  # rows per page of a list
NO_NUL = r"^[^\x00]*$"  # PostgreSQL stores no NUL character in text or JSON; the schemas refuse it everywhere
MAX_TEXT = 4000  # the longest free text of a request (a rule's expression); most fields have a lower limit
DECIMAL_18 = {"maximum": 10**16, "maxLength": 24}  # documents what max_digits=18, decimal_places=2 enforce
DECIMAL_21 = {"maximum": 10**12, "maxLength": 24}  # documents what max_digits=21, decimal_places=9 enforce
JSON_MAX_BYTES = 4 << 20  # the largest JSON document is a declaration of 999 items, well under this
REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,40}")


def _iso_only(value):
    """Pydantic reads a number as seconds since 1970; a date parameter given as a number is a mistake."""
    if not isinstance(value, (str, date)) or (isinstance(value, str) and not re.match(r"\s*\d{4}-\d\d-\d\d", value)):
        raise ValueError("give a date and time in ISO 8601, e.g. 2026-03-01T08:00:00+01:00")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_only)]  # a date-time in ISO 8601 text, never a number
AGENCY_CODE = r"^[A-Z][A-Z0-9_]{1,15}$"  # as in the coordination config


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused (413) past `limit` bytes: by its Content-Length, or as it streams in, so an
    oversized body is never held in memory whole."""
    too_large = TooLarge(f"the {what} is over {limit:,} bytes; nothing was stored", [Problem(
        "", f"send at most {limit:,} bytes" + ("; split the file" if what == "upload" else ""))])
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def request_id(raw: bytes | None) -> str | None:
    """The caller's X-Request-Id if it is a plain token (letters, digits, . _ : -, at most 40), else None.

    The id is echoed in a response header and written to the audit log: anything else (a non-UTF-8 byte, a line
    break, a quote) is replaced by an id of ours rather than refused, so that a bad header never costs an answer."""
    return raw.decode("ascii") if raw and REQUEST_ID.fullmatch(raw) else None


def text_problems(value, path: tuple = ()) -> list[Problem]:
    """A problem for each string (or key) holding a NUL character, with its pointer."""
    if isinstance(value, str):
        return [Problem(pointer(*path), "remove the NUL character (\\u0000); text may not contain it")] \
            if "\x00" in value else []
    if isinstance(value, dict):
        problems = [Problem(pointer(*path), f"remove the NUL character (\\u0000) from the key {k!r}")
                    for k in value if "\x00" in k]
        return problems + [p for k, v in value.items() for p in text_problems(v, path + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in text_problems(v, path + (i,))]
    return []


def json_problems(body: bytes) -> list[Problem]:
    """Faults of a JSON body that the schema cannot see: not UTF-8, unpaired surrogates, NUL characters."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        return [Problem("", f"the body is not valid JSON (UTF-8, no unpaired surrogates): {e}")]
    return text_problems(data) if b"\\u0000" in body else []  # a NUL can only arrive escaped: skip the walk


def query_problems(request: Request, declared: set[str]) -> list[Problem]:
    """Unknown query parameters, and NUL characters in query or path parameters."""
    problems = [Problem(pointer(name), f"query parameter: unknown parameter '{name}'; "
                        + (f"this route takes {', '.join(sorted(declared))}" if declared else "this route takes none"))
                for name in dict.fromkeys(request.query_params) if name not in declared]
    for where, params in (("query", request.query_params.multi_items()), ("path", request.path_params.items())):
        problems += [Problem(pointer(name), f"{where} parameter: remove the NUL character (%00)")
                     for name, value in params if "\x00" in str(value)]
    return problems


def _query_names(dependant) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    return {p.alias for p in dependant.query_params}.union(*(_query_names(d) for d in dependant.dependencies))


class BoundedRoute(APIRoute):
    """A route that refuses, before FastAPI parses anything, unknown query parameters, NUL characters, JSON
    bodies over JSON_MAX_BYTES (or the route's x-max-body-bytes) and JSON that is not UTF-8: 422 (413 for size)
    in the error tree's form."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        declared = _query_names(self.dependant)
        parses_body = self.body_field is not None
        limit = (self.openapi_extra or {}).get("x-max-body-bytes", JSON_MAX_BYTES)

        async def bounded(request: Request):
            problems = query_problems(request, declared)
            if parses_body and request.method in ("POST", "PUT", "PATCH"):
                body = await read_body(request, limit, "request body")
                request._body = body  # Starlette's cache: FastAPI parses this copy, not the spent stream
                if body and "json" in request.headers.get("content-type", "json"):
                    problems += json_problems(body)
            if problems:
                raise InvalidDocument("the request has faults; nothing was stored", problems)
            return await handler(request)

        return bounded


# Media type -> the bytes its content starts with: an attachment or a photo must be what it says it is (a file
# served back under a declared type it does not have is how stored content turns into script).
MEDIA_MAGIC = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",), "application/pdf": (b"%PDF-",),
               "image/webp": (b"RIFF",)}


def media_of(data: bytes) -> str | None:
    """The media type the content's first bytes show, among MEDIA_MAGIC's; None for anything else."""
    found = next((t for t, magics in MEDIA_MAGIC.items() if data.startswith(magics)), None)
    if found == "image/webp" and data[8:12] != b"WEBP":  # RIFF is also WAV and AVI
        return None
    return found
