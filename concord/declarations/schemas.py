"""The declaration document (after the WCO Data Model) and its validation against reference data."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator)

from concord.errors import InvalidDocument, problems_from
from concord.reference import codes

TRANSPORT_MODES = ("sea", "air", "road", "rail", "post", "inland_waterway", "pipeline")


def _upper(v):
    return v.strip().upper() if isinstance(v, str) else v


def _checked(check):
    def validate(v: str) -> str:
        if problem := check(v):
            raise ValueError(problem)
        return v
    return validate


Country = Annotated[str, BeforeValidator(_upper), AfterValidator(_checked(codes.country_problem)),
                   Field(examples=["DE"], description="ISO 3166-1 alpha-2")]
CurrencyCode = Annotated[str, BeforeValidator(_upper), AfterValidator(_checked(codes.currency_problem)),
                        Field(examples=["EUR"], description="ISO 4217")]
ContainerNumber = Annotated[str, BeforeValidator(_upper), AfterValidator(_checked(codes.container_problem)),
                            Field(examples=["MSCU1234566"], description="ISO 6346 with check digit")]
HsCode = Annotated[str, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
                   AfterValidator(_checked(codes.hs_problem)),
                   Field(examples=["090111"], description="HS subheading, 6 digits (8 or 10 with a national extension)")]
Locode = Annotated[str, BeforeValidator(_upper), AfterValidator(_checked(codes.locode_problem)),
                   Field(examples=["NLRTM"], description="UN/LOCODE")]


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Party(Doc):
    id: str = Field(min_length=2, max_length=40, description="party identifier, e.g. EORI or TIN")
    name: str = Field(min_length=1, max_length=200)
    country: Country
    address: str = Field(min_length=3, max_length=300)


class Money(Doc):
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    currency: CurrencyCode


class Document(Doc):
    type: str = Field(pattern=r"^[A-Z0-9]{3,8}$", description="document code, e.g. N851 phytosanitary certificate")
    reference: str = Field(min_length=1, max_length=70)


class GoodsItem(Doc):
    hs_code: HsCode
    description: str = Field(min_length=3, max_length=512)
    origin: Country
    quantity: Decimal = Field(gt=0)
    unit: str = Field(min_length=1, max_length=8, description="unit of quantity, e.g. KGM, NAR, LTR")
    net_mass_kg: Decimal = Field(gt=0)
    value: Money
    documents: list[Document] = []


class Transport(Doc):
    mode: Literal[TRANSPORT_MODES]  # type: ignore[valid-type]
    conveyance: str | None = Field(None, description="vessel IMO number, flight number or vehicle registration")
    containers: list[ContainerNumber] = []

    @field_validator("conveyance")
    @classmethod
    def vessel_imo(cls, v, info: ValidationInfo):
        if v and info.data.get("mode") == "sea" and (problem := codes.imo_problem(v)):
            raise ValueError(problem)
        return v


class DeclarationIn(Doc):
    lrn: str = Field(min_length=1, max_length=35, description="the trader's local reference number")
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
