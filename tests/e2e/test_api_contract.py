"""The API's contract is complete and holds: every input bounded, every error documented, and Schemathesis,
fuzzing every operation in-process as a trader, an officer, a liaison and an auditor, finds no response 5xx,
none that breaks the documented schema and no undocumented status or content type."""

from __future__ import annotations

import collections
import re

import pytest

from concord.app import create_app

BOUNDED_PATTERN = re.compile(r"\^[^*+]*\$")  # anchored, with no unbounded repetition
READS_WITH_PURPOSE = [("get", "/api/v1/declarations"), ("get", "/api/v1/declarations/export"),
                      ("get", "/api/v1/declarations/{declaration_id}"), ("get", "/api/v1/declarations/{declaration_id}/timeline"),
                      ("get", "/api/v1/declarations/{declaration_id}/versions"),
                      ("get", "/api/v1/declarations/{declaration_id}/explanation"),
                      ("get", "/api/v1/inspection-results"),
                      ("post", "/api/v1/screening"), ("post", "/api/v1/screening/decisions")]


@pytest.fixture(scope="module")
def document():
    return create_app(None, background=False).openapi()


def _unbounded(schema: dict, where: str, components: dict, limits: dict, seen: frozenset) -> list[str]:
    """Places in a schema where a string, list, number or object has no upper limit."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return [] if name in seen else _unbounded(components[name], where, components, limits, seen | {name})
    limits = limits | {k: schema[k] for k in ("maxLength", "maximum", "exclusiveMaximum", "pattern", "enum", "const",
                                              "format") if k in schema}
    found = [f for key in ("anyOf", "oneOf", "allOf") for sub in schema.get(key, [])
             for f in _unbounded(sub, where, components, limits, seen)]
    kind = schema.get("type")
    if kind == "string" and not ({"maxLength", "enum", "const", "format"} & set(limits)
                                 or BOUNDED_PATTERN.fullmatch(limits.get("pattern", "x"))):
        found.append(f"{where}: a string without maxLength")
    elif kind == "array":
        found += [f"{where}: a list without maxItems"] if "maxItems" not in schema else []
        found += _unbounded(schema.get("items", {}), where + "/*", components, {}, seen)
    elif kind in ("integer", "number") and not ({"maximum", "exclusiveMaximum", "enum"} & set(limits)):
        found.append(f"{where}: a number without maximum")
    elif kind == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            found += _unbounded(sub, f"{where}/{name}", components, {}, seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            found += [f"{where}: an object without maxProperties"] if "maxProperties" not in schema else []
            found += _unbounded(extra, where + "/*", components, {}, seen)
            found += _unbounded(schema.get("propertyNames", {"type": "string"}), where + "/<key>", components, {}, seen)
    return found


def test_every_string_list_and_number_a_request_takes_has_a_limit(document):
    components, found = document["components"]["schemas"], []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            label = f"{method.upper()} {path}"
            for p in op.get("parameters", []):
                if p["in"] != "path":  # path ids are looked up, never stored: an unknown one answers 404
                    found += _unbounded(p["schema"], f"{label} {p['in']} {p['name']}", components, {}, frozenset())
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                if media == "application/json":
                    found += _unbounded(content.get("schema", {}), f"{label} body", components, {}, frozenset())
                else:  # a file (YAML config, NDJSON upload): bounded by its byte limit
                    assert op.get("x-max-body-bytes"), f"{label} takes {media} without x-max-body-bytes"
    assert found == []


def test_every_operation_documents_its_errors_in_the_error_tree_form(document):
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            expected = {"400", "404", "422", "500"} | ({"401", "403", "429", "503"} if path.startswith("/api/v1/") else set())
            assert expected <= set(responses), (method, path, sorted(responses))
            for status, response in responses.items():
                if status[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path in READS_WITH_PURPOSE:
        names = {(p["in"], p["name"]) for p in document["paths"][path][method]["parameters"]}
        assert {("header", "Concord-Purpose"), ("query", "purpose")} <= names, (method, path)


# -- Schemathesis ---------------------------------------------------------------------------------------------------

USERS = ["hollandfoods", "cus-officer", "nppo-liaison", "auditor"]  # trader, officer, liaison, auditor
# Examples per operation and generation mode: about 3,000 calls on SQLite and 1,800 on PostgreSQL (whose limits
# differ: NUL characters, column lengths, 32-bit integers), two to three minutes on two busy cores.
EXAMPLES = {"sqlite": 10, "postgresql": 6}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed_hub(request, tmp_path_factory):
    from concord.access.messages import IssueToken
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.clock import FixedClock
    from concord.config import Settings
    from concord.declarations.messages import SubmitDeclaration
    from concord.declarations.schemas import parse_declaration
    from support import declaration, demo_config_text, item, subjects

    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'concord.db'}" if request.param == "sqlite" else _postgres_database(request)
    hub = bootstrap(Settings(database_url=url, var_dir=tmp), clock=FixedClock())
    hub.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    for n, doc in enumerate([declaration(), declaration(lrn="FZ-2", items=[item("080390", "Bananas", "EC")])]):
        hub.bus.handle(SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")),
                       subject=subjects(hub)["hollandfoods"])
    tokens = {u: hub.bus.handle(IssueToken(user_id=u))["token"] for u in USERS}
    yield hub, tokens, EXAMPLES[request.param]
    hub.close()


def _without_lifespan(app):
    """The app, its start-up skipped: Schemathesis's client starts it for every call, and start-up tunes the
    process's garbage collector for a server (bootstrap.settle_heap), which would outlive this test."""
    async def asgi(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
    return asgi


def _outer_space_only(case, schema) -> bool:
    """Whether a body "accepted although invalid" is valid once each string loses its outer whitespace, as the
    server does before it checks lengths (bodies.StrictModel): "\\vdV" plus 199 characters is 200 characters of
    title. Any other fault in the body still counts."""
    import jsonschema_rs

    def strip(v):
        if isinstance(v, str):
            return v.strip()
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()}
        return [strip(x) for x in v] if isinstance(v, list) else v

    if not isinstance(case.body, (dict, list)) or strip(case.body) == case.body:
        return False
    doc = schema.raw_schema
    body = doc["paths"][case.path][case.method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**body, "components": doc["components"]}).is_valid(strip(case.body))


def _postgres_database(request) -> str:
    """A fresh PostgreSQL database for the module (skips when the server does not answer), dropped afterwards."""
    import uuid

    import psycopg

    from conftest import postgres_available

    if reason := postgres_available():
        pytest.skip(reason)
    name = f"concord_fuzz_{uuid.uuid4().hex[:12]}"
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def test_schemathesis_finds_no_server_error_schema_violation_or_undocumented_status(fuzzed_hub):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                                   response_headers_conformance, response_schema_conformance,
                                                   status_code_conformance)

    hub, tokens, examples = fuzzed_hub

    @schemathesis.serializer("application/x-ndjson")
    def _ndjson(ctx, value):
        return value.encode() if isinstance(value, str) else repr(value).encode()

    schema = schemathesis.openapi.from_asgi("/openapi.json", _without_lifespan(create_app(hub, background=False)))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
              response_headers_conformance, negative_data_rejection]
    failures, seen, calls = collections.Counter(), {}, 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and operation.label.endswith("/batch"):
                continue  # any bytes are an NDJSON "string": there is no schema-violating body to send

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def fuzz(case):
                nonlocal calls
                for user in USERS:
                    calls += 1
                    headers = {"Authorization": f"Bearer {tokens[user]}"}
                    try:
                        case.validate_response(case.call(headers=headers), checks=checks, headers=headers)
                    except (Exception, BaseExceptionGroup) as e:  # collect them all, not only the first
                        found = [line for line in str(e).splitlines() if line.startswith("- ")]
                        if found == ["- ST201 Schema-violating request accepted"] and _outer_space_only(case, schema):
                            continue
                        first = next(iter(found), repr(e)[:200])
                        failures[f"{operation.label} as {user}: {first}"] += 1
                        seen.setdefault(first, str(e)[:800])

            try:
                fuzz()
            except Unsatisfiable:  # no negative case exists (an operation without parameters or body)
                pass
    print(f"schemathesis: {calls} calls, {sum(failures.values())} failures")
    assert calls > 1500
    assert not failures, "\n".join([f"{n} x {key}" for key, n in failures.items()] + list(seen.values()))
