"""The OpenAPI document states every error a route can answer, each in the error tree's form (errors.py).

FastAPI documents a route's success and its own validation error (a shape we never send). This rewrites the
error responses from what the routes are: every route can answer 400, 404 (the router, or a record out of
scope), 422 (a parameter, a header or the body) and 500; an authenticated one (all under /api/v1) 401, 403,
429 and 503; one that takes a body 413; one that changes state 409 (the record's state, or an earlier request).
"""

from __future__ import annotations

ERROR = {
    "type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "description": "what kind of fault: invalid, not_found, conflict, ..."},
            "message": {"type": "string", "description": "what went wrong and what to do"},
            "problems": {"type": "array", "items": {"type": "object", "required": ["pointer", "message"], "properties": {
                "pointer": {"type": "string", "description": "RFC 6901 JSON pointer to the faulty field or parameter"},
                "message": {"type": "string"}}}},
            "request_id": {"type": "string", "description": "quote it to the operators (500 only)"}}}}}

WHY = {400: "the request could not be read", 401: "no valid bearer token", 403: "the caller's role may not do this",
       404: "no such route or record, or one outside the caller's scope", 405: "the method is not allowed here",
       409: "conflicts with the record's state or an earlier request", 413: "the body is over the route's limit",
       422: "a parameter, header or body has faults: each with a JSON pointer and what to fix",
       429: "too many refused authentications from this client; retry after Retry-After seconds",
       500: "a fault on our side; quote the request id",
       503: "the hub is not ready: no coordination config loaded, or an audit key missing"}


def statuses(path: str, method: str, operation: dict) -> set[int]:
    """The error statuses an operation can answer (every route under /api/v1 and /taxii2 requires a bearer token)."""
    out = {400, 404, 422, 500}
    if path.startswith(("/api/v1/", "/taxii2/")):
        out |= {401, 403, 429, 503}
    if "requestBody" in operation:
        out.add(413)
    if method in ("post", "put", "delete"):
        out.add(409)
    return out


def document_errors(app) -> None:
    """Make app.openapi() declare each route's error statuses with the error schema (built once, then cached)."""
    plain = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = plain()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status in sorted(statuses(path, method, operation)):
                    # a route may answer an error in another media type too (EDIFACT's CONTRL): kept beside JSON
                    other = {k: v for k, v in responses.get(str(status), {}).get("content", {}).items()
                             if k != "application/json"}
                    responses[str(status)] = {"description": WHY[status], "content": ref | other}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi
