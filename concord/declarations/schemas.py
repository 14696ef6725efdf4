"""The declaration document (after the WCO Data Model) and its validation against reference data.

`DeclarationIn` is the document's model and the one source of its rules: FastAPI documents it, and every fault
is reported with a JSON pointer and a message that says what to fix. Bulk ingest needs the JSON form of
thousands of declarations a second, which `declaration_document` gives without building the model: it first
tries a twin of the model's schema, derived from it at first use, that validates JSON straight into that form
(typed dicts, decimals kept as their text) and checks the codes inside pydantic-core against the reference
data. The twin accepts only documents the model accepts, with the same result; anything else, every faulty
document included, goes to the model, so every answer, problem, pointer and message is the model's.
"""

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Callable, Literal

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import CoreSchema, SchemaValidator, core_schema

from concord.bodies import StrictModel as Doc
from concord.declarations import twin
from concord.bounds import DECIMAL_18, DECIMAL_21, NO_NUL
from concord.errors import InvalidDocument, problems_from
from concord.reference import codes
from concord.standards.wcodm import mark_properties

# Each field's WCO Data Model element in the OpenAPI schema (x-wco-dm), from the one table in standards/wcodm.py.
# Only the JSON schema changes: the core schema, and so the fast twin below, are the same.
WCO_DM = ConfigDict(json_schema_extra=mark_properties)

TRANSPORT_MODES = ("sea", "air", "road", "rail", "post", "inland_waterway", "pipeline")

# A code field's validator -> its core-only form for the twin (built at first use, from reference data).
_FAST_FORMS: dict[Callable, Callable[[], CoreSchema]] = {}


def _code(check: Callable[[str], str | None], fast: Callable[[], CoreSchema], upper: bool = True) -> Callable:
    """Strip (and upper-case) a code, then check it: one Python call per field. Other types pass through to
    the str validator, which reports them; `fast` gives the same check without Python, for the twin."""
    def validate(v):
        if isinstance(v, str):
            v = v.strip().upper() if upper else v.strip()
            if problem := check(v):
                raise ValueError(problem)
        return v
    _FAST_FORMS[validate] = fast
    return validate


def _as_sent_or_normalized(check: CoreSchema, ascii_form: str) -> CoreSchema:
    """A code as traders usually send it (upper case, no padding) is checked at once; otherwise it is stripped,
    must be ASCII (pydantic-core's case mapping and whitespace follow a newer Unicode than Python's, so only
    for ASCII do they agree with str.strip().upper()), upper-cased, and then checked."""
    normalized = [core_schema.str_schema(strip_whitespace=True, pattern=f"^{ascii_form}$"),
                  core_schema.str_schema(strip_whitespace=False, to_upper=True), check]
    return core_schema.union_schema([check, core_schema.chain_schema(normalized)], mode="left_to_right")


def _in(ascii_form: str, values: Callable[[], frozenset[str]]) -> Callable[[], CoreSchema]:
    return lambda: _as_sent_or_normalized(core_schema.literal_schema(sorted(values())), ascii_form)


def _fast_locode() -> CoreSchema:
    countries = "|".join(sorted(codes.countries()))
    check = core_schema.str_schema(strip_whitespace=False, pattern=f"^(?:{countries}) ?[A-Z2-9]{{3}}$")
    return _as_sent_or_normalized(check, "[A-Za-z]{2} ?[A-Za-z2-9]{3}")


def _fast_hs() -> CoreSchema:
    subheadings = "|".join(sorted(codes.hs_subheadings()))
    return core_schema.str_schema(strip_whitespace=True, pattern=f"^(?:{subheadings})(?:[0-9]{{2}}){{0,2}}$")


def _check_digit(v: str, valid=codes.iso6346_valid) -> str:
    if valid(v):
        return v
    raise ValueError("wrong check digit")  # the model says which digit it should be


def _fast_container() -> CoreSchema:
    check = core_schema.chain_schema([
        core_schema.str_schema(strip_whitespace=False, pattern=r"^[A-Z]{3}[UJZ][0-9]{7}$"),
        core_schema.no_info_plain_validator_function(_check_digit)])
    return _as_sent_or_normalized(check, "[A-Za-z]{3}[UJZujz][0-9]{7}")


Country = Annotated[str, BeforeValidator(_code(codes.country_problem, _in("[A-Za-z]{2}", codes.countries))),
                    Field(examples=["DE"], description="ISO 3166-1 alpha-2", json_schema_extra={"maxLength": 8})]
CurrencyCode = Annotated[str, BeforeValidator(_code(codes.currency_problem, _in("[A-Za-z]{3}", codes.currencies))),
                         Field(examples=["EUR"], description="ISO 4217", json_schema_extra={"maxLength": 8})]
ContainerNumber = Annotated[str, BeforeValidator(_code(codes.container_problem, _fast_container)), Field(
    examples=["MSCU1234566"], description="ISO 6346 with check digit", json_schema_extra={"maxLength": 16})]
HsCode = Annotated[str, BeforeValidator(_code(codes.hs_problem, _fast_hs, upper=False)),
                   Field(examples=["090111"], description="HS subheading, 6 digits (8 or 10 with a national extension)",
                         json_schema_extra={"maxLength": 16})]
Locode = Annotated[str, BeforeValidator(_code(codes.locode_problem, _fast_locode)),
                   Field(examples=["NLRTM"], description="UN/LOCODE", json_schema_extra={"maxLength": 8})]


class Party(Doc):
    model_config = WCO_DM

    id: str = Field(min_length=2, max_length=40, pattern=NO_NUL, description="party identifier, e.g. EORI or TIN")
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    country: Country
    address: str = Field(min_length=3, max_length=300, pattern=NO_NUL)


class Money(Doc):
    model_config = WCO_DM

    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2, json_schema_extra=DECIMAL_18)
    currency: CurrencyCode


class Document(Doc):
    model_config = WCO_DM

    type: str = Field(pattern=r"^[A-Z0-9]{3,8}$", description="document code, e.g. N851 phytosanitary certificate")
    reference: str = Field(min_length=1, max_length=70, pattern=NO_NUL)


class GoodsItem(Doc):
    model_config = WCO_DM

    hs_code: HsCode
    description: str = Field(min_length=3, max_length=512, pattern=NO_NUL)
    origin: Country
    quantity: Decimal = Field(gt=0, max_digits=21, decimal_places=9, json_schema_extra=DECIMAL_21)
    unit: str = Field(min_length=1, max_length=8, pattern=NO_NUL, description="unit of quantity, e.g. KGM, NAR, LTR")
    net_mass_kg: Decimal = Field(gt=0, max_digits=21, decimal_places=9, json_schema_extra=DECIMAL_21)
    value: Money
    documents: list[Document] = Field([], max_length=50)


class Transport(Doc):
    model_config = WCO_DM

    mode: Literal[TRANSPORT_MODES]  # type: ignore[valid-type]
    conveyance: str | None = Field(None, max_length=35, pattern=NO_NUL,
                                   description="vessel IMO number, flight number or vehicle registration")
    containers: list[ContainerNumber] = Field([], max_length=999)

    @field_validator("conveyance")
    @classmethod
    def vessel_imo(cls, v, info: ValidationInfo):
        if v and info.data.get("mode") == "sea" and (problem := codes.imo_problem(v)):
            raise ValueError(problem)
        return v


class DeclarationIn(Doc):
    model_config = WCO_DM

    lrn: str = Field(min_length=1, max_length=35, pattern=NO_NUL, description="the trader's local reference number")
    type: Literal["IM", "EX", "TR"]
    declarant: Party
    importer: Party
    exporter: Party
    office_of_entry: Locode
    destination_country: Country | None = None
    transport: Transport
    arrival: datetime = Field(description="expected arrival of the goods (ISO 8601 with offset)")
    items: list[GoodsItem] = Field(min_length=1, max_length=999)

    @field_validator("arrival")
    @classmethod
    def aware(cls, v: datetime):
        if v.tzinfo is None:
            raise ValueError("give the arrival time with its UTC offset, e.g. 2026-03-01T08:00:00+01:00")
        return v


def parse_declaration(data) -> DeclarationIn:
    """Validate a declaration (dict or JSON bytes); raise InvalidDocument listing every fault."""
    try:
        if isinstance(data, (bytes, str)):
            return DeclarationIn.model_validate_json(data)
        return DeclarationIn.model_validate(data)
    except ValidationError as e:
        raise InvalidDocument("the declaration has faults; nothing was stored", problems_from(e)) from None


def declaration_document(data) -> dict:
    """parse_declaration(data).model_dump(mode="json"), about twice as fast for JSON bytes or text."""
    if isinstance(data, (bytes, str)) and (fast := _document_validator()) is not None:
        try:
            return fast.validate_json(data)
        except ValidationError:
            pass  # faulty, or valid in a form the twin leaves to the model: the model decides and explains
    return parse_declaration(data).model_dump(mode="json")


@cache
def _document_validator() -> SchemaValidator | None:
    """DeclarationIn's twin (declarations/twin.py), built at first use; None if the model holds a part it cannot
    reproduce exactly (then the model validates every document)."""
    try:
        return SchemaValidator(twin.document_twin(DeclarationIn.__pydantic_core_schema__, _FAST_FORMS))
    except twin.Unsupported:
        return None
