"""UN/CEFACT electronic SPS certificates (the IPPC ePhyto hub's SPSCertificate XML): read safely, compared with
the declaration that references them.

The XML is read with defusedxml (no DTD, no entities, no external references: a billion-laughs or XXE file is
refused before anything expands) within a size bound, and by local names, so that the schema's namespace
versions (SPSCertificate:17, ReusableAggregateBusinessInformationEntity:21 ...) all read. Faults are named by
their path in the certificate (XPath-like: the standard's own form), in the error tree's `pointer`.

The check compares the consignment with the declaration's items that reference the certificate (document type
and reference = the certificate's ID): commodity (HS, first `hs_digits` digits), origin, net weight (within
`net_mass_percent`), consignor and consignee (exporter and importer, names similar to `name_similarity` out of
100). The tolerances are the agency's (config section `sps_certificates`). A mismatch is a finding on the
agency's task, for its officer to weigh, never a refusal by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rapidfuzz import fuzz

from concord.errors import InvalidDocument, Problem, problems_from

MAX_CERTIFICATE_BYTES = 2 << 20
MAX_TRADE_LINES = 999
ROOT = "/SPSCertificate"


class Tolerances(BaseModel):
    """An agency's tolerances for certificates (config section `sps_certificates`, one row per agency)."""

    model_config = ConfigDict(extra="forbid")
    agency: str = Field(max_length=16)
    documents: list[str] = Field(["N851"], min_length=1, description="document codes the agency takes as SPS "
                                                                      "certificates, e.g. N851 phytosanitary")
    hs_digits: int = Field(6, ge=2, le=10, description="HS digits that must agree")
    net_mass_percent: Decimal = Field(Decimal("5"), ge=0, le=100)
    name_similarity: int = Field(85, ge=0, le=100, description="consignor/consignee names against the declaration's "
                                                               "exporter/importer (rapidfuzz token set ratio)")


@dataclass
class TradeLine:
    path: str
    hs: str | None
    origin: str | None
    net_kg: Decimal | None
    description: str


@dataclass
class Certificate:
    id: str
    type_code: str
    status_code: str
    consignor: str
    consignee: str
    export_country: str | None
    lines: list[TradeLine] = field(default_factory=list)

    def summary(self) -> dict:
        return {"id": self.id, "type_code": self.type_code, "consignor": self.consignor, "consignee": self.consignee,
                "export_country": self.export_country, "trade_lines": len(self.lines)}


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(e: Element | None, *names: str) -> Element | None:
    for name in names:
        if e is None:
            return None
        e = next((c for c in e if _local(c.tag) == name), None)
    return e


def _text(e: Element | None, *names: str) -> str:
    found = _child(e, *names) if names else e
    return (found.text or "").strip() if found is not None else ""


def parse_certificate(data: bytes) -> Certificate:
    """The certificate's facts, or InvalidDocument naming each fault by its path in the certificate."""
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise InvalidDocument(f"the certificate is over {MAX_CERTIFICATE_BYTES:,} bytes; nothing was stored",
                              [Problem("", f"send at most {MAX_CERTIFICATE_BYTES:,} bytes")])
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise InvalidDocument("the certificate was refused; nothing was stored", [Problem("", (
            f"remove the DTD, entity declarations and external references ({type(e).__name__}): an SPS "
            "certificate needs none"))]) from None
    except (ParseError, ValueError) as e:
        raise InvalidDocument("the certificate is not well-formed XML; nothing was stored",
                              [Problem("", f"{e}: send the certificate as UTF-8 XML")]) from None
    if _local(root.tag) != "SPSCertificate":
        raise InvalidDocument("this is not a UN/CEFACT SPS certificate; nothing was stored", [Problem(
            "/" + _local(root.tag), "the root element must be rsm:SPSCertificate")])
    problems: list[Problem] = []
    document, consignment = _child(root, "SPSExchangedDocument"), _child(root, "SPSConsignment")
    if document is None or not _text(document, "ID"):
        problems.append(Problem(f"{ROOT}/SPSExchangedDocument/ID", "the certificate's number (ID) is required"))
    if consignment is None:
        problems.append(Problem(f"{ROOT}/SPSConsignment", "the consignment is required"))
        raise InvalidDocument("the certificate has faults; nothing was stored", problems)
    lines = []
    items = [c for c in consignment if _local(c.tag) == "IncludedSPSConsignmentItem"]
    for i, item in enumerate(items, 1):
        for j, line in enumerate([c for c in item if _local(c.tag) == "IncludedSPSTradeLineItem"], 1):
            path = f"{ROOT}/SPSConsignment/IncludedSPSConsignmentItem[{i}]/IncludedSPSTradeLineItem[{j}]"
            lines.append(_trade_line(line, path, problems))
    if not lines:
        problems.append(Problem(f"{ROOT}/SPSConsignment/IncludedSPSConsignmentItem",
                                "at least one IncludedSPSTradeLineItem is required"))
    if len(lines) > MAX_TRADE_LINES:
        problems.append(Problem(f"{ROOT}/SPSConsignment", f"at most {MAX_TRADE_LINES} trade line items"))
    if problems:
        raise InvalidDocument("the certificate has faults; nothing was stored", problems)
    return Certificate(_text(document, "ID")[:70], _text(document, "TypeCode")[:8], _text(document, "StatusCode")[:8],
                       _text(consignment, "ConsignorSPSParty", "Name")[:200],
                       _text(consignment, "ConsigneeSPSParty", "Name")[:200],
                       _text(consignment, "ExportSPSCountry", "ID")[:2] or None, lines)


def _trade_line(line: Element, path: str, problems: list[Problem]) -> TradeLine:
    weight = _child(line, "NetWeightMeasure")
    net = None
    if weight is not None:
        unit = weight.get("unitCode", "KGM")
        try:
            net = Decimal(_text(weight))
            if not net.is_finite() or net < 0:
                raise InvalidOperation
            net = {"KGM": net, "TNE": net * 1000, "GRM": net / 1000}[unit]
        except (InvalidOperation, KeyError):
            problems.append(Problem(f"{path}/NetWeightMeasure", "give the net weight as a number with unitCode "
                                    "KGM, TNE or GRM"))
            net = None
    classes = [c for c in line if _local(c.tag) == "ApplicableSPSClassification"]
    hs = next((_text(c, "ClassCode") for c in classes if _text(c, "SystemID").upper() in ("HS", "")), None)
    return TradeLine(path, (hs or "").replace(".", "")[:10] or None, _text(line, "OriginSPSCountry", "ID")[:2] or None,
                     net, _text(line, "Description")[:200])


def check(cert: Certificate, document: dict, items: list[int], t: Tolerances) -> list[dict]:
    """Findings where the certificate's consignment and the declaration's items differ beyond the tolerances."""
    findings: list[dict] = []
    declared = [document["items"][i] for i in items]
    declared_hs = {d["hs_code"][:t.hs_digits] for d in declared}
    for line in cert.lines:
        if line.hs and line.hs[:t.hs_digits] not in declared_hs:
            findings.append({"check": "commodity", "certificate": line.hs, "declared": sorted(declared_hs),
                             "where": f"{line.path}/ApplicableSPSClassification/ClassCode"})
    declared_origins = {d["origin"] for d in declared}
    for line in cert.lines:
        if line.origin and line.origin not in declared_origins:
            findings.append({"check": "origin", "certificate": line.origin, "declared": sorted(declared_origins),
                             "where": f"{line.path}/OriginSPSCountry/ID"})
    certified = [line.net_kg for line in cert.lines if line.net_kg is not None]
    if certified:
        on_cert, declared_kg = sum(certified), sum(Decimal(d["net_mass_kg"]) for d in declared)
        if abs(on_cert - declared_kg) > declared_kg * t.net_mass_percent / 100:
            findings.append({"check": "net_mass", "certificate": str(on_cert), "declared": str(declared_kg),
                             "tolerance_percent": str(t.net_mass_percent),
                             "where": f"{ROOT}/SPSConsignment//NetWeightMeasure"})
    for role, party, name in (("consignor", "exporter", cert.consignor), ("consignee", "importer", cert.consignee)):
        if name and fuzz.token_set_ratio(name.lower(), document[party]["name"].lower()) < t.name_similarity:
            findings.append({"check": role, "certificate": name, "declared": document[party]["name"],
                             "where": f"{ROOT}/SPSConsignment/{role.capitalize()}SPSParty/Name"})
    return findings


def validate_config_section(cfg, rows: list) -> list[Problem]:
    """The `sps_certificates` section: one row of tolerances per agency, for agencies of the config."""
    known = {a.code for a in cfg.agencies} if cfg is not None else None
    problems: list[Problem] = []
    if not isinstance(rows, list):
        return [Problem("/sps_certificates", "give a list of agencies' tolerances")]
    for i, row in enumerate(rows):
        try:
            t = Tolerances.model_validate(row)
        except ValidationError as e:
            problems += problems_from(e, ("sps_certificates", i))
            continue
        if known is not None and t.agency not in known:
            problems.append(Problem(f"/sps_certificates/{i}/agency", f"no agency '{t.agency}' in this config"))
    return problems


def store_config_section(uow, cfg, rows: list, version: int) -> None:
    """Nothing to store beyond the config version itself, which keeps the section."""


def tolerances(config_document: dict) -> list[Tolerances]:
    return [Tolerances.model_validate(r) for r in config_document.get("sps_certificates") or ()]
