"""Declaration validation: the JSON-form twin (declaration_document) answers exactly as the model does.

The model (parse_declaration, DeclarationIn) is the reference: the same documents are accepted, the JSON form
is the same text (key order included), and a faulty document gets the same problems, pointers and messages."""

import copy
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, field_serializer
from pydantic_core import SchemaValidator, ValidationError, core_schema

from concord.access.identity import Subject
from concord.declarations import schemas, twin
from concord.bench.ingest import _bodies
from concord.declarations.schemas import DeclarationIn, declaration_document, parse_declaration
from concord.errors import InvalidDocument
from support import declaration, item

TRADER = Subject("rotterdam-freight", None, "NL812345670", frozenset({"trader"}))
BODIES = _bodies(300, TRADER, seed=5)


def outcome(validate, data):
    try:
        return "ok", json.dumps(validate(data), ensure_ascii=False)
    except InvalidDocument as e:
        return "invalid", [(p.pointer, p.message) for p in e.problems]


def by_model(data):
    return outcome(lambda d: parse_declaration(d).model_dump(mode="json"), data)


def by_document(data):
    return outcome(declaration_document, data)


def twin_accepts(body: bytes) -> bool:
    try:
        schemas._document_validator().validate_json(body)
        return True
    except ValidationError:
        return False


def body(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def test_the_twin_is_built_from_the_model():
    assert schemas._document_validator() is not None


def test_realistic_declarations_take_the_fast_path_with_the_models_result():
    for b in BODIES:
        assert twin_accepts(b)
        assert by_document(b) == by_model(b)
    doc = declaration_document(body(declaration()))
    assert doc["destination_country"] is None and doc["items"][0]["documents"] == []
    assert doc["arrival"] == "2026-01-07T08:00:00Z" and doc["items"][0]["value"]["amount"] == "2800.00"
    assert list(doc) == list(DeclarationIn.model_fields)


def test_defaults_are_fresh_lists():
    road = declaration(transport={"mode": "road", "conveyance": "AB-123-C"})
    first, second = declaration_document(body(road)), declaration_document(body(road))
    assert first["transport"]["containers"] == [] and first["transport"]["containers"] is not second["transport"]["containers"]
    first["items"][0]["documents"].append("x")
    assert second["items"][0]["documents"] == []


def _transport(**changes):
    return {**declaration()["transport"], **changes}


def _item(**changes):
    return [{**declaration()["items"][0], **changes}]


FAULTS = {
    "hs unknown": (declaration(items=_item(hs_code="090199")),
                   [("/items/0/hs_code", "HS subheading 090199 is not in the Harmonized System nomenclature")]),
    "hs format": (declaration(items=_item(hs_code="0901")),
                  [("/items/0/hs_code", "HS code must be 6, 8 or 10 digits, e.g. 090111")]),
    "country": (declaration(declarant={**declaration()["declarant"], "country": "xx"}),
                [("/declarant/country", "'XX' is not an ISO 3166-1 alpha-2 country code (e.g. DE, CN, BR)")]),
    "currency": (declaration(items=_item(value={"amount": "10.00", "currency": "eux"})),
                 [("/items/0/value/currency", "'EUX' is not an ISO 4217 currency code (e.g. EUR, USD)")]),
    "locode format": (declaration(office_of_entry="NLRT"),
                      [("/office_of_entry", "UN/LOCODE must be a country code and 3 letters or digits 2-9, e.g. NLRTM")]),
    "locode country": (declaration(office_of_entry="xxrtm"),
                       [("/office_of_entry", "UN/LOCODE country part 'XX' is not an ISO 3166-1 country")]),
    "container digit": (declaration(transport=_transport(containers=["MSCU1234566", "mscu1234567"])),
                        [("/transport/containers/1", "ISO 6346 check digit of MSCU1234567 should be 6")]),
    "container format": (declaration(transport=_transport(containers=["MSC1234567"])),
                         [("/transport/containers/0", "container number must follow ISO 6346: owner code, category "
                                                      "U/J/Z, 6 digits, check digit (e.g. MSCU1234566)")]),
    "imo digit": (declaration(transport=_transport(conveyance="IMO9074728")),
                  [("/transport/conveyance", "IMO check digit of 9074728 should be 9")]),
    "imo format": (declaration(transport=_transport(conveyance="V123")),
                   [("/transport/conveyance", "IMO number must be 7 digits, optionally prefixed 'IMO', e.g. IMO9074729")]),
    "naive arrival": (declaration(arrival="2026-01-07T08:00:00"),
                      [("/arrival", "give the arrival time with its UTC offset, e.g. 2026-03-01T08:00:00+01:00")]),
    "amount places": (declaration(items=_item(value={"amount": "10.001", "currency": "EUR"})),
                      [("/items/0/value/amount", "Decimal input should have no more than 2 decimal places")]),
    "quantity zero": (declaration(items=_item(quantity="0")), [("/items/0/quantity", "Input should be greater than 0")]),
    "missing and unknown": ({k: v for k, v in declaration(extra="x").items() if k != "lrn"},
                            [("/lrn", "'lrn' is required"), ("/extra", "unknown field 'extra'; remove it or check its spelling")]),
    "every fault at once": (
        declaration(office_of_entry="XXRTM", items=[item("090199", "xy", "XX", amount="-1")],
                    arrival="2026-13-01T00:00:00Z"),
        [("/office_of_entry", "UN/LOCODE country part 'XX' is not an ISO 3166-1 country"),
         ("/arrival", "Input should be a valid datetime or date, month value is outside expected range of 1-12"),
         ("/items/0/hs_code", "HS subheading 090199 is not in the Harmonized System nomenclature"),
         ("/items/0/description", "String should have at least 3 characters"),
         ("/items/0/origin", "'XX' is not an ISO 3166-1 alpha-2 country code (e.g. DE, CN, BR)"),
         ("/items/0/value/amount", "Input should be greater than 0")]),
    "wrong types": (declaration(lrn=5, items=_item(quantity=[], origin=None), transport=_transport(containers="MSCU1234566")),
                    [("/lrn", "Input should be a valid string"), ("/transport/containers", "Input should be a valid array"),
                     ("/items/0/origin", "Input should be a valid string"),
                     ("/items/0/quantity", "Decimal input should be an integer, float, string or Decimal object")]),
}


@pytest.mark.parametrize("name", FAULTS)
def test_faults_get_the_models_problems(name):
    doc, problems = FAULTS[name]
    assert by_model(body(doc)) == by_document(body(doc)) == ("invalid", problems)
    assert by_document(doc) == by_model(doc)  # a dict is the model's work ("valid list" rather than "valid array")


NORMALIZED = {  # accepted forms the twin may leave to the model; the result must be the model's either way
    "lower-case, padded codes": declaration(office_of_entry=" nl rtm ", items=_item(origin="bd\u00a0", hs_code=" 610910 "),
                                            declarant={**declaration()["declarant"], "country": "\tnl"}),
    "control characters Python strips": declaration(destination_country="NL\x1f", office_of_entry="\x1cNLRTM"),
    "lower-case container": declaration(transport=_transport(containers=[" mscu1234566", "CSQU3054383"])),
    "container in other digits": declaration(transport=_transport(containers=["MSCU\u0661\u0662\u0663\u0664\u0665\u0666\u0666"])),
    "sharp s upper-cases to SS": declaration(destination_country="\u00df"),
    "numbers as JSON numbers": declaration(items=_item(quantity=1000, net_mass_kg=12.5, value={"amount": 10, "currency": "EUR"})),
    "decimal spellings": declaration(items=_item(quantity="1E+3", net_mass_kg="0.0000001", value={"amount": "010.5", "currency": "EUR"})),
    "arrival spellings": declaration(arrival="2026-01-07 08:00:00.5+0100"),
    "IMO with a space": declaration(transport=_transport(conveyance=" IMO 9074729 ")),
}


@pytest.mark.parametrize("name", NORMALIZED)
def test_normalized_forms_give_the_models_result(name):
    doc = NORMALIZED[name]
    result = by_model(body(doc))
    assert result[0] == "ok"
    assert by_document(body(doc)) == result and by_document(doc) == by_model(doc)


def test_normalization_as_before():
    doc = declaration_document(body(NORMALIZED["lower-case, padded codes"]))
    assert (doc["office_of_entry"], doc["items"][0]["origin"], doc["items"][0]["hs_code"]) == ("NL RTM", "BD", "610910")
    assert declaration_document(body(NORMALIZED["control characters Python strips"]))["destination_country"] == "NL"
    assert declaration_document(body(NORMALIZED["sharp s upper-cases to SS"]))["destination_country"] == "SS"
    assert declaration_document(body(NORMALIZED["decimal spellings"]))["items"][0]["quantity"] == "1E+3"


def test_unicode_newer_than_pythons_is_left_to_the_model():
    # pydantic-core (Rust) upper-cases U+1DF95 to "SS"; Python 3.11's str.upper() leaves it alone.
    doc = declaration(destination_country="\U0001df95")
    assert not twin_accepts(body(doc))
    assert by_document(body(doc)) == by_model(body(doc)) == (
        "invalid", [("/destination_country", "'\U0001df95' is not an ISO 3166-1 alpha-2 country code (e.g. DE, CN, BR)")])


def test_whitespace_pydantic_core_strips_is_whitespace_to_python():
    """The twin strips with pydantic-core; that must never remove more than str.strip() does."""
    strip = SchemaValidator(core_schema.list_schema(core_schema.str_schema(strip_whitespace=True)))
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    stripped = [c for c, s in zip(chars, strip.validate_python(["a" + c for c in chars])) if s == "a"]
    assert stripped and all(c.isspace() for c in stripped)


@pytest.mark.parametrize("form", ["country", "currency", "locode", "container", "hs"])
@given(st.text(st.characters(min_codepoint=0x80), min_size=1, max_size=2))
@settings(max_examples=150, deadline=None)
def test_code_forms_take_no_non_ascii(form, extra):
    """The twin's code checks accept only ASCII codes; pydantic-core and Python agree on those."""
    fast, samples = {
        "country": (schemas._in("[A-Za-z]{2}", schemas.codes.countries)(), ["NL", "nl", "SS"]),
        "currency": (schemas._in("[A-Za-z]{3}", schemas.codes.currencies)(), ["EUR", "eur"]),
        "locode": (schemas._fast_locode(), ["NLRTM", "nl rtm"]),
        "container": (schemas._fast_container(), ["MSCU1234566", "mscu1234566"]),
        "hs": (schemas._fast_hs(), ["090111", "0901110010"]),
    }[form]
    validator = SchemaValidator(fast)
    for sample in samples:
        assert validator.validate_python(sample)
        for i in range(len(sample) + 1):
            candidate = sample[:i] + extra + sample[i:]
            try:
                validator.validate_python(candidate)
            except ValidationError:
                continue
            assert candidate.strip() == sample, candidate  # only whitespace, which Python strips too


_QUANTITY = twin.decimal_pattern({"type": "decimal", "gt": 0, "max_digits": 21, "decimal_places": 9})
_AMOUNT = twin.decimal_pattern({"type": "decimal", "gt": 0, "max_digits": 18, "decimal_places": 2})


@given(quantity=st.from_regex(_QUANTITY, fullmatch=True),
       amount=st.from_regex(_AMOUNT, fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_decimals_the_twin_takes_are_their_own_json_form(quantity, amount):
    doc = declaration(items=_item(quantity=quantity, value={"amount": amount, "currency": "EUR"}))
    assert twin_accepts(body(doc))
    assert by_document(body(doc)) == by_model(body(doc))
    assert str(Decimal(quantity)) == quantity and str(Decimal(amount)) == amount


def test_decimal_patterns():
    assert _AMOUNT == r"^(?:[1-9][0-9]{0,15}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]{0,1}|0[1-9][0-9]{0,0}))$"
    with pytest.raises(twin.Unsupported):
        twin.decimal_pattern({"type": "decimal", "ge": 0})
    with pytest.raises(twin.Unsupported):
        twin.decimal_pattern({"type": "decimal", "gt": 0, "max_digits": 5})


VALUES = st.one_of(
    st.sampled_from(["", " ", "nl", "NL", "xx", "\u00df", "\U0001df95", "eur", "EUX", "NLRTM", "nl rtm", "XXRTM", "090111",
                     "0901110010", "090199", "0901", "MSCU1234566", "mscu1234567", "CSQU3054383", "IMO9074729", "IMO9074728",
                     "1000", "0.50", "00.5", "1e3", "-5", "0", "0.0000001", "1234567890123456.99", "2026-01-07T08:00:00+00:00",
                     "2026-01-07T08:00:00", "2026-02-30T08:00:00Z", "sea", "road", "EX", "N851", "KGM", "A" * 41]),
    st.text(max_size=6), st.none(), st.integers(-2, 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.just([]), st.just({}),
)
PADDING = st.sampled_from(["", " ", "\t", "\x1f", "\u00a0", "\u3000"])


def _paths(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, path + (i,))


@given(data=st.data())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_declarations_get_the_models_answer(data):
    doc = json.loads(data.draw(st.sampled_from(BODIES)))
    for _ in range(data.draw(st.integers(0, 3))):
        path = data.draw(st.sampled_from(list(_paths(doc))[1:]))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        current, action = parent[path[-1]], data.draw(st.sampled_from(["replace", "pad", "case", "drop", "extra"]))
        if action == "pad" and isinstance(current, str):
            parent[path[-1]] = data.draw(PADDING) + current + data.draw(PADDING)
        elif action == "case" and isinstance(current, str):
            parent[path[-1]] = current.lower() if data.draw(st.booleans()) else current.swapcase()
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "extra" and isinstance(parent, dict):
            parent["remarks"] = "x"
        else:
            parent[path[-1]] = copy.deepcopy(data.draw(VALUES))
    assert by_document(body(doc)) == by_model(body(doc))


def test_the_twin_refuses_what_it_cannot_reproduce():
    class WithFloat(BaseModel):
        weight: float

    class WithSerializer(BaseModel):
        name: str

        @field_serializer("name")
        def shout(self, v):
            return v.upper()

    for model in (WithFloat, WithSerializer):
        with pytest.raises(twin.Unsupported):
            twin.document_twin(model.__pydantic_core_schema__, {})


def test_json_schema_of_code_fields_unchanged():
    party = DeclarationIn.model_json_schema()["$defs"]["Party"]["properties"]["country"]
    party.pop("x-wco-dm")  # the WCO DM elements (standards/wcodm.py), checked in test_standards_wcodm.py
    assert party == {"description": "ISO 3166-1 alpha-2", "examples": ["DE"], "title": "Country", "type": "string",
                     "maxLength": 8}  # the reference check bounds it; the schema says so
