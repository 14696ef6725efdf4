"""The fast twin of a model's core schema: it validates JSON as the model does and gives the model's JSON form
(typed dicts, decimals kept as their text, datetimes as their serialized text) without building the model, and
checks code fields through core-only forms of their validators (`fast_forms`: validator -> a CoreSchema factory).
It reproduces only what it can reproduce exactly and raises `Unsupported` for anything else, so that a caller
falls back to the model for every document (declarations/schemas.py)."""

from typing import Callable

from pydantic_core import CoreSchema, SchemaSerializer, core_schema


class Unsupported(Exception):
    """A part of the schema the twin cannot reproduce exactly; then the model validates every document."""


def _code_check(node: dict, fast_forms: dict) -> Callable[[], CoreSchema] | None:
    """The core-only form of a code field's validator node (a before-validator over a plain str), if it is one."""
    if node.get("type") != "function-before" or node.get("schema") != {"type": "str"}:
        return None
    function = node.get("function", {})
    return fast_forms.get(function.get("function")) if function.get("type") == "no-info" else None


def decimal_pattern(node: dict) -> str:
    """A pattern for decimal strings whose JSON form, str(Decimal(text)), is the text itself and that the node
    accepts: no sign, exponent, leading zeros or whitespace, at most 5 zeros after "0." (str() switches to
    exponent notation after that), within max_digits and decimal_places. Other forms go to the model."""
    gt, max_digits, places = node.get("gt"), node.get("max_digits"), node.get("decimal_places")
    if set(node) - {"type", "gt", "max_digits", "decimal_places", "metadata"} or gt is None or gt != 0:
        raise Unsupported(f"decimal {node}")
    if max_digits is None and places is None:
        return r"^(?:[1-9][0-9]*(?:\.[0-9]+)?|0\.0{0,5}[1-9][0-9]*)$"
    if max_digits is None or places is None or not 0 < places < max_digits:
        raise Unsupported(f"decimal {node}")
    fractions = "|".join(f"{'0' * zeros}[1-9][0-9]{{0,{places - zeros - 1}}}" for zeros in range(min(places, 6)))
    return rf"^(?:[1-9][0-9]{{0,{max_digits - places - 1}}}(?:\.[0-9]{{1,{places}}})?|0\.(?:{fractions}))$"


def _json_form(node: dict) -> CoreSchema:
    """Validate as the node does, then serialize the value as model_dump(mode="json") would: one Python call,
    which also runs the node's own after-validator if it has one (e.g. the check that the arrival has an offset)."""
    to_json = SchemaSerializer(node).to_python
    if node["type"] == "function-after" and node["function"]["type"] == "no-info":
        check = node["function"]["function"]
        return core_schema.no_info_after_validator_function(lambda v: to_json(check(v), mode="json"), node["schema"])
    return core_schema.no_info_after_validator_function(lambda v: to_json(v, mode="json"), node)


_MODEL_KEYS = {"type", "cls", "schema", "config", "ref", "metadata", "custom_init", "root_model", "post_init"}
_FIELDS_KEYS = {"type", "fields", "model_name", "computed_fields", "metadata"}
_CONFIG_KEYS = {"title", "extra_fields_behavior", "str_strip_whitespace"}


def document_twin(node: dict, fast_forms: dict) -> CoreSchema:
    """A core schema that validates like `node` but gives the JSON form: models become typed dicts (same field
    order, defaults and extra-field rule), decimals checked strings, datetimes their serialized text, code
    checks core-only. Raises Unsupported for anything it cannot reproduce exactly."""
    if "serialization" in node:
        raise Unsupported(f"custom serialization in {node['type']}")
    kind = node["type"]
    if kind == "definitions":
        return {**node, "schema": document_twin(node["schema"], fast_forms),
                "definitions": [document_twin(d, fast_forms) for d in node["definitions"]]}
    if kind == "definition-ref":
        return node
    if kind == "model":
        fields_node, config = node["schema"], node.get("config", {})
        if (set(node) - _MODEL_KEYS or node.get("custom_init") or node.get("root_model") or node.get("post_init")
                or fields_node["type"] != "model-fields" or set(fields_node) - _FIELDS_KEYS
                or fields_node.get("computed_fields") or set(config) - _CONFIG_KEYS
                or config.get("extra_fields_behavior", "ignore") == "allow"):
            raise Unsupported(f"model {node.get('ref')}")
        fields = {}
        for name, field in fields_node["fields"].items():
            if set(field) - {"type", "schema", "metadata"}:
                raise Unsupported(f"field {name} of {node.get('ref')}")
            fields[name] = core_schema.typed_dict_field(document_twin(field["schema"], fast_forms),
                                                        required=field["schema"]["type"] != "default")
        return core_schema.typed_dict_schema(fields, ref=node.get("ref"), config=config, total=True,
                                             extra_behavior=config.get("extra_fields_behavior"))
    if kind == "list":
        return {**node, "items_schema": document_twin(node["items_schema"], fast_forms)}
    if kind in ("default", "nullable"):
        if kind == "default" and ("default_factory" in node or not _same_in_json(node.get("default"))):
            raise Unsupported(f"default of {node['schema']['type']}")
        return {**node, "schema": document_twin(node["schema"], fast_forms)}
    if kind == "decimal":
        return core_schema.str_schema(pattern=decimal_pattern(node), strip_whitespace=False)
    if kind == "datetime":
        return _json_form(node)
    if (fast := _code_check(node, fast_forms)) is not None:
        return fast()
    if kind in ("function-before", "function-after") and _plain(node["schema"]):
        return node  # a validator over values that are their own JSON form (an after-validator keeps their type)
    if kind == "function-after" and node["schema"]["type"] == "datetime" and "serialization" not in node["schema"]:
        return _json_form(node)
    if _plain(node):
        return node
    raise Unsupported(kind)


def _same_in_json(value) -> bool:
    if isinstance(value, list):
        return all(map(_same_in_json, value))
    return value is None or type(value) in (str, int, bool)


def _plain(node: dict) -> bool:
    """Whether a schema's values are their own JSON form (strings, ints, booleans, None, lists of them)."""
    kind = node.get("type")
    if "serialization" in node:
        return False
    if kind in ("str", "int", "bool", "none"):
        return True
    if kind == "literal":
        return all(_same_in_json(v) for v in node["expected"])
    if kind in ("nullable", "default", "function-before", "function-after"):
        if kind == "default" and ("default_factory" in node or not _same_in_json(node.get("default"))):
            return False
        return _plain(node["schema"])
    if kind == "list":
        return _plain(node["items_schema"])
    return False
