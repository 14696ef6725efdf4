"""The WCO Data Model table covers every field of the declaration, marks the schema, and the docs show it as it is."""

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from concord.declarations.schemas import DeclarationIn, _document_validator
from concord.standards.wcodm import (
    BY_POINTER,
    MODEL_PATHS,
    TABLE,
    element_for,
    markdown_table,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "standards.md"


def _leaves(model, prefix=""):
    for name, field in model.model_fields.items():
        annotation, pointer = field.annotation, f"{prefix}/{name}"
        for arg in typing.get_args(annotation) or ():  # X | None
            if arg is not type(None) and typing.get_origin(annotation) is not list:
                annotation = arg if isinstance(arg, type) or typing.get_origin(arg) is list else annotation
        if typing.get_origin(annotation) is list:
            (inner,) = typing.get_args(annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _leaves(inner, pointer + "/*")
            else:
                yield pointer
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaves(annotation, pointer)
        else:
            yield pointer


def test_every_field_has_one_row_and_every_row_a_field():
    leaves = set(_leaves(DeclarationIn))
    assert len(leaves) == len(TABLE) == len(BY_POINTER)
    assert leaves == set(BY_POINTER)
    assert all(e.certainty in ("known", "probable", "uncertain") for e in TABLE)
    assert all(e.departure or e.certainty for e in TABLE)


def test_schema_carries_the_wco_ids_and_the_fast_validator_stays_on():
    schema = DeclarationIn.model_json_schema()
    assert schema["properties"]["lrn"]["x-wco-dm"][0]["id"] == "D026"
    party = schema["$defs"]["Party"]["properties"]["country"]["x-wco-dm"]
    assert [m["pointer"] for m in party] == ["/declarant/country", "/importer/country", "/exporter/country"]
    marked = {m["pointer"] for d in [schema, *schema["$defs"].values()]
              for p in d.get("properties", {}).values() for m in p.get("x-wco-dm", [])}
    assert marked == set(BY_POINTER)
    assert set(MODEL_PATHS) == {"DeclarationIn", *schema["$defs"]}
    assert _document_validator() is not None  # x-wco-dm lives in the JSON schema only, not in the core schema


def test_nearest_row_of_a_concrete_pointer():
    assert element_for("/items/3/documents/0/type").wco_id == "D006"
    assert element_for("/items/3/value") is None  # a whole model has no element of its own
    assert element_for("/transport/containers/2").wco_id == "159"
    assert element_for("") is None


def test_docs_show_the_table_of_the_code():
    text = DOC.read_text()
    shown = re.search(r"<!-- wcodm:begin -->\n(.*?)\n<!-- wcodm:end -->", text, re.S)
    assert shown, "docs/standards.md lost its wcodm markers"
    assert shown.group(1) == markdown_table(), "regenerate it: concord standards wcodm --markdown"
