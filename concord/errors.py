"""One error tree: every error a user can cause says what to fix, with a JSON pointer where a document is at fault."""

from dataclasses import dataclass, field

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    pointer: str  # RFC 6901 JSON pointer into the submitted document ("" for the whole)
    message: str

    def as_dict(self) -> dict:
        return {"pointer": self.pointer, "message": self.message}


class ConcordError(Exception):
    status = 400
    code = "bad_request"
    headers: dict | None = None  # response headers the answer needs (Retry-After)

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.problems:
            body["problems"] = [p.as_dict() for p in self.problems]
        return {"error": body}


class InvalidDocument(ConcordError):
    """A submitted document (declaration, config, rule) has faults; nothing was stored."""

    status = 422
    code = "invalid"


class NotFound(ConcordError):
    status = 404
    code = "not_found"


class Conflict(ConcordError):
    status = 409
    code = "conflict"


class ConcurrentWrite(Conflict):
    """Another request wrote the same record at the same moment and this one stored nothing: it can run again
    (the bus runs an event handler again on it; a client is told to send the request again)."""


class TooLarge(ConcordError):
    """A request body over its route's limit: refused before it is read whole; nothing stored."""

    status = 413
    code = "too_large"


class Misconfigured(ConcordError):
    """The hub's own settings or database are not usable (a bad URL, a database that does not answer or is empty)."""

    status = 503
    code = "misconfigured"


class Unauthenticated(ConcordError):
    status = 401
    code = "unauthenticated"


class Forbidden(ConcordError):
    status = 403
    code = "forbidden"


class TooManyRequests(ConcordError):
    """Too many refused attempts from one client in its window; Retry-After says when the window closes."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


def pointer(*parts) -> str:
    """Build an RFC 6901 pointer from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class ProblemList:
    """Collects problems while validating so that every fault is reported at once."""

    items: list[Problem] = field(default_factory=list)

    def add(self, ptr: str, message: str) -> None:
        self.items.append(Problem(ptr, message))

    def raise_if_any(self, message: str) -> None:
        if self.items:
            raise InvalidDocument(message, self.items)


def problem_of(e: dict, loc: tuple) -> Problem:
    """One pydantic error as a problem: a JSON pointer to the field and what to fix."""
    message = e["msg"].removeprefix("Value error, ")
    if e["type"] == "missing":
        message = f"'{loc[-1]}' is required" if loc else "a JSON body is required"
    elif e["type"] == "extra_forbidden":
        message = f"unknown field '{loc[-1]}'; remove it or check its spelling"
    elif e["type"] == "string_pattern_mismatch" and e.get("ctx", {}).get("pattern") == r"^[^\x00]*$":
        message = "remove the NUL character (\\u0000); text may not contain it"  # the pattern is bounds.NO_NUL
    elif e["type"] == "json_invalid":
        message = f"the body is not valid JSON: {e.get('ctx', {}).get('error', message)}"
    return Problem(pointer(*loc), message)


def problems_from(error: ValidationError, prefix: tuple = ()) -> list[Problem]:
    """One problem per fault, each with a JSON pointer to the field and what to fix."""
    return [problem_of(e, prefix + tuple(e["loc"])) for e in error.errors(include_url=False)]
