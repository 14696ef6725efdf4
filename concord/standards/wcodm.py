"""The WCO Data Model names of every field of Concord's declaration: one table that the API schema, the docs
(docs/standards.md) and the EDIFACT converter read.

Each row names a field by a JSON pointer into DeclarationIn (`*` for any list index), its WCO DM data element
(ID, name, class), where the CUSDEC converter finds it, and, where Concord departs from the model, why. The
IDs were written from memory of the WCO DM 3.x directory and the EU UCC data requirements (which quote them);
`certainty` says how sure that memory is, and an uncertain ID must be checked against the directory before a
partner relies on it. Nothing is invented to look complete: where no ID is known, the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Element:
    pointer: str  # into DeclarationIn; `*` stands for any index of a list
    wco_id: str
    wco_name: str
    wco_class: str
    certainty: str  # known | probable | uncertain
    edifact: str  # segment (with its qualifier) and data element in CUSDEC
    departure: str = ""  # why Concord's JSON differs from the model, if it does

    def mark(self) -> dict:
        """The field's entry in the OpenAPI schema (x-wco-dm)."""
        return {"pointer": self.pointer, "id": self.wco_id, "name": self.wco_name, "class": self.wco_class,
                "certainty": self.certainty}


_ADDRESS = ("Concord keeps the address as one line (street, postcode, city); the model splits it into street "
            "(239), city (241) and postcode (245). CUSDEC carries the line in NAD's street composite (C059).")
_PARTY_ID = "an EORI or TIN as the trader sends it; the model adds the scheme of the identifier, Concord does not."


def _party(role: str, qualifier: str, name_id: str, id_id: str, certainty: str) -> list[Element]:
    cls = role.capitalize()
    return [
        Element(f"/{role}/id", id_id, f"{cls}, coded (identifier)", cls, certainty, f"NAD+{qualifier} C082/3039",
                _PARTY_ID),
        Element(f"/{role}/name", name_id, f"{cls} name", cls, certainty, f"NAD+{qualifier} C080/3036"),
        Element(f"/{role}/country", "242", "Country, coded", f"{cls}/Address", "known", f"NAD+{qualifier} 3207"),
        Element(f"/{role}/address", "239", "Street and number/P.O. Box", f"{cls}/Address", "probable",
                f"NAD+{qualifier} C059/3042", _ADDRESS),
    ]


TABLE: tuple[Element, ...] = (
    Element("/lrn", "D026", "LRN (local reference number)", "Declaration", "known", "BGM 1004"),
    Element("/type", "D013", "Declaration type, coded", "Declaration", "probable", "BGM C002/1001",
            "Concord takes IM, EX or TR (the UCC's box 1/1 letters); the model and CUSDEC code the document type "
            "(UNCL 1001: 929 import, 830 export, 952 transit; the transit code is uncertain)."),
    *_party("declarant", "DT", "R039", "R040", "uncertain"),
    *_party("importer", "IM", "R037", "R038", "probable"),
    *_party("exporter", "EX", "R031", "R032", "probable"),
    Element("/office_of_entry", "G005", "Customs office of entry, coded", "BorderTransportMeans/Office",
            "uncertain", "LOC+22 C517/3225",
            "Concord names the office by its UN/LOCODE (checked against the administration's offices of entry); "
            "the model codes the customs office itself (in the EU its reference number, e.g. NL000396)."),
    Element("/destination_country", "014", "Country of destination, coded", "GoodsShipment/Destination",
            "probable", "LOC+28 C517/3225"),
    Element("/transport/mode", "068", "Mode of transport at the border, coded", "BorderTransportMeans",
            "uncertain", "TDT+11 C220/8067",
            "Concord writes the mode as a word (sea, air, road, rail, post, inland_waterway, pipeline); the model "
            "and CUSDEC use UN/ECE Recommendation 19 (1 sea, 2 rail, 3 road, 4 air, 5 mail, 7 fixed "
            "installation, 8 inland waterway)."),
    Element("/transport/conveyance", "T009", "Identification of means of transport crossing the border",
            "BorderTransportMeans", "uncertain", "TDT+11 C222/8213",
            "One text for a vessel's IMO number, a flight number or a vehicle's registration; the model adds "
            "the type of identification, which Concord derives from the mode."),
    Element("/transport/containers", "159", "Container identification number", "TransportEquipment", "known",
            "EQD+CN C237/8260"),
    Element("/arrival", "172", "Date and time of arrival, estimated", "BorderTransportMeans", "uncertain",
            "DTM+132 C507/2380",
            "ISO 8601 with its UTC offset; CUSDEC's DTM carries it as format 203 (CCYYMMDDHHMM), read and "
            "written in UTC, so the offset the trader used is not kept (the instant is)."),
    Element("/items/*/hs_code", "145", "Commodity code (tariff classification)", "GovernmentAgencyGoodsItem/"
            "Commodity/Classification", "probable", "CST C246/7361",
            "6 to 10 digits: the HS subheading and the national extension in one code; the model gives each "
            "code its list (identificationTypeCode)."),
    Element("/items/*/description", "137", "Description of goods", "GovernmentAgencyGoodsItem/Commodity",
            "known", "FTX+AAA C108/4440"),
    Element("/items/*/origin", "063", "Country of origin, coded", "GovernmentAgencyGoodsItem/Origin",
            "probable", "LOC+27 C517/3225"),
    Element("/items/*/quantity", "130", "Quantity (supplementary units)", "GovernmentAgencyGoodsItem/GoodsMeasure",
            "uncertain", "QTY+47 C186/6060"),
    Element("/items/*/unit", "", "unit of the quantity (no separate data element known: it is the unitCode "
            "attribute of the quantity)", "GovernmentAgencyGoodsItem/GoodsMeasure", "uncertain",
            "QTY+47 C186/6411", "The model carries the unit as an attribute of 130, not as an element."),
    Element("/items/*/net_mass_kg", "126", "Net weight measure", "GovernmentAgencyGoodsItem/GoodsMeasure",
            "probable", "MEA+AAE C502/6313=AAL C174/6314",
            "Always kilograms, so the unit is in the field's name; the model and CUSDEC carry it (KGM)."),
    Element("/items/*/value/amount", "114", "Item price/amount", "GovernmentAgencyGoodsItem/CustomsValuation",
            "uncertain", "MOA+38 C516/5004",
            "Concord keeps each item's value with its own currency; the model states the invoice currency "
            "once for the declaration (135)."),
    Element("/items/*/value/currency", "135", "Currency of invoice, coded",
            "GovernmentAgencyGoodsItem/CustomsValuation", "uncertain", "MOA+38 C516/6345",
            "Per item in Concord (see the amount), once per declaration in the model."),
    Element("/items/*/documents/*/type", "D006", "Additional document type, coded",
            "GovernmentAgencyGoodsItem/AdditionalDocument", "uncertain", "DOC C002/1001",
            "Concord's document codes are the administration's (TARIC-style, e.g. N851, up to 8 characters); "
            "UNCL 1001 codes are an..3, so CUSDEC carries Concord's code as it is in 1001."),
    Element("/items/*/documents/*/reference", "D005", "Additional document identifier",
            "GovernmentAgencyGoodsItem/AdditionalDocument", "uncertain", "DOC C503/1004"),
)

BY_POINTER = {e.pointer: e for e in TABLE}

# Where each model of the declaration sits in it: the OpenAPI schema marks a shared model's fields with every use.
MODEL_PATHS = {"DeclarationIn": ("",), "Party": ("/declarant", "/importer", "/exporter"), "Transport": ("/transport",),
               "GoodsItem": ("/items/*",), "Money": ("/items/*/value",), "Document": ("/items/*/documents/*",)}


def mark_properties(schema: dict, cls) -> None:
    """json_schema_extra of the declaration's models: each property carries its WCO DM element(s) as x-wco-dm."""
    for name, prop in schema.get("properties", {}).items():
        marks = [BY_POINTER[f"{prefix}/{name}"].mark() for prefix in MODEL_PATHS.get(cls.__name__, ())
                 if f"{prefix}/{name}" in BY_POINTER]
        if marks:
            prop["x-wco-dm"] = marks


def element_for(pointer: str) -> Element | None:
    """The row of a concrete JSON pointer (list indexes as numbers), or of its nearest field above."""
    parts = pointer.strip("/").split("/") if pointer.strip("/") else []
    while parts:
        generic = "/" + "/".join("*" if p.isdigit() else p for p in parts)
        if generic in BY_POINTER:
            return BY_POINTER[generic]
        parts.pop()
    return None


def markdown_table() -> str:
    """The table as docs/standards.md shows it."""
    lines = ["| field (JSON pointer) | WCO DM ID | WCO DM name | class | certainty | CUSDEC | departure |",
             "|---|---|---|---|---|---|---|"]
    for e in TABLE:
        cells = [f"`{e.pointer}`", e.wco_id or "—", e.wco_name, e.wco_class, e.certainty, f"`{e.edifact}`",
                 e.departure or "—"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
