"""A CUSDEC message to Concord's declaration document and back, through the WCO DM table (wcodm.TABLE).

`to_document` reads the segments of one message (UNH and UNT excluded) into the dict a JSON trader would send,
and remembers where each value came from, so that every fault the declaration's model finds (a JSON pointer)
is answered with the segment and data element at fault. `from_document` writes the same layout: the two are
inverse for every field (the arrival keeps its instant, written in UTC).

Layout (the subset Concord reads; the directory's other segments are refused, not dropped):
    BGM+929|830|952+LRN+9            DTM+132:CCYYMMDDHHMM[SS]:203|204     LOC+22+office   LOC+28+destination
    NAD+DT|IM|EX+id::9++name+street++++country                            TDT+11++mode+++++conveyance
    EQD+CN+container ...  UNS+D
    per item: CST+n+hs  FTX+AAA+++description  LOC+27+origin  QTY+47:quantity:unit  MEA+AAE+AAL+KGM:net
              MOA+38:amount:currency  DOC+type+reference ...
    UNS+S
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pydifact.segments import Segment

from concord.standards.wcodm import BY_POINTER, element_for

DOCUMENT_CODES = {"IM": "929", "EX": "830", "TR": "952"}
DECLARATION_TYPES = {v: k for k, v in DOCUMENT_CODES.items()}
MODES = {"sea": "1", "rail": "2", "road": "3", "air": "4", "post": "5", "pipeline": "7", "inland_waterway": "8"}
MODE_WORDS = {v: k for k, v in MODES.items()}
PARTIES = {"DT": "declarant", "IM": "importer", "EX": "exporter"}
ROLES = {v: k for k, v in PARTIES.items()}
NAME_PART, STREET_PART, TEXT_PART = 35, 35, 70  # an..35 (3036, 3042), an..70 (4440)


@dataclass(frozen=True)
class Place:
    """Where a value sits in the message: the segment's position (UNH is 1), its tag and qualifier, the element."""

    position: int
    segment: str
    element: str

    def as_dict(self) -> dict:
        return {"segment": self.segment, "position": self.position, "element": self.element}


@dataclass(frozen=True)
class Fault:
    """A fault of the message itself (before the declaration's model sees it)."""

    place: Place
    pointer: str
    message: str
    code: str  # UN/EDIFACT error code: 12 invalid value, 13 missing, 15 not supported in this position


class Reading:
    """The document being read and where each of its values came from."""

    def __init__(self):
        self.document: dict = {"transport": {"containers": []}, "items": []}
        self.places: dict[str, Place] = {}
        self.faults: list[Fault] = []

    def put(self, target: dict, key: str, value, pointer: str, position: int, segment: str) -> None:
        target[key] = value
        row = BY_POINTER.get(_generic(pointer))
        self.places[pointer] = Place(position, segment, row.edifact.split(" ", 1)[1] if row else "")

    def fault(self, position: int, segment: str, pointer: str, message: str, code: str = "12") -> None:
        row = element_for(pointer)
        element = row.edifact.split(" ", 1)[1] if row and row.edifact.startswith(segment.split("+")[0]) else ""
        self.faults.append(Fault(Place(position, segment, element), pointer, message, code))

    def place_of(self, pointer: str) -> Place:
        """The place of a pointer's value, or of the nearest value above or below it (else the message header)."""
        if pointer in self.places:
            return self.places[pointer]
        below = [p for p in self.places if p.startswith(pointer + "/")]
        if below:
            return self.places[min(below, key=lambda p: self.places[p].position)]
        parts = pointer.split("/")
        while len(parts) > 1:
            parts.pop()
            if (up := "/".join(parts)) in self.places:
                return self.places[up]
            if (first := [p for p in self.places if p.startswith(up + "/")]) and up:
                return self.places[min(first, key=lambda p: self.places[p].position)]
        row = element_for(pointer)
        return Place(2, row.edifact.split(" ")[0] if row else "BGM", row.edifact.split(" ", 1)[1] if row else "")


def _generic(pointer: str) -> str:
    return "/".join("*" if p.isdigit() else p for p in pointer.split("/"))


def _text(element) -> str:
    """A simple element, or the first component of a composite."""
    if isinstance(element, list):
        return element[0] if element else ""
    return element or ""


def component(segment: Segment, index: int, component: int = 0) -> str:
    if index >= len(segment.elements):
        return ""
    element = segment.elements[index]
    if isinstance(element, list):
        return element[component] if component < len(element) else ""
    return element if component == 0 else ""


def _joined(element) -> str:
    """Repeated components (C080 party name, C059 street, C108 text) joined: they were split at fixed widths."""
    return "".join(element) if isinstance(element, list) else (element or "")


def _number(text: str) -> str:
    return text.replace(",", ".")  # either decimal mark is allowed in EDIFACT numeric data


def _arrival(segment: Segment) -> str | None:
    value, form = component(segment, 0, 1), component(segment, 0, 2) or "203"
    shapes = {"203": "%Y%m%d%H%M", "204": "%Y%m%d%H%M%S"}
    if form not in shapes:
        return None
    try:
        return datetime.strptime(value, shapes[form]).replace(tzinfo=timezone.utc).isoformat()
    except ValueError:
        return None


def to_document(segments: list[Segment]) -> Reading:
    """Read one CUSDEC message's segments (UNH and UNT excluded; UNH is position 1) into a declaration document."""
    r = Reading()
    doc, transport = r.document, r.document["transport"]
    item = None
    for position, s in enumerate(segments, 2):
        q = _text(s.elements[0]) if s.elements else ""
        tag = f"{s.tag}+{q}" if q else s.tag
        if s.tag == "BGM":
            code = component(s, 0)
            if code not in DECLARATION_TYPES:
                r.fault(position, tag, "/type", f"document name code {code!r} is not one Concord reads: send 929 "
                        "(import), 830 (export) or 952 (transit)")
            else:
                r.put(doc, "type", DECLARATION_TYPES[code], "/type", position, tag)
            r.put(doc, "lrn", component(s, 1), "/lrn", position, tag)
        elif tag == "DTM+132":
            if (arrival := _arrival(s)) is None:
                r.fault(position, tag, "/arrival", "give the estimated arrival as CCYYMMDDHHMM (format 203) or "
                        "CCYYMMDDHHMMSS (204), in UTC")
            else:
                r.put(doc, "arrival", arrival, "/arrival", position, tag)
        elif tag == "LOC+22":
            r.put(doc, "office_of_entry", component(s, 1), "/office_of_entry", position, tag)
        elif tag == "LOC+28":
            r.put(doc, "destination_country", component(s, 1), "/destination_country", position, tag)
        elif s.tag == "NAD" and q in PARTIES:
            role = PARTIES[q]
            party, at = doc.setdefault(role, {}), f"/{role}"
            r.put(party, "id", component(s, 1), f"{at}/id", position, tag)
            r.put(party, "name", _joined(s.elements[3]) if len(s.elements) > 3 else "", f"{at}/name", position, tag)
            r.put(party, "address", _joined(s.elements[4]) if len(s.elements) > 4 else "", f"{at}/address",
                  position, tag)
            r.put(party, "country", component(s, 8), f"{at}/country", position, tag)
        elif tag == "TDT+11":
            mode = component(s, 2)
            if mode not in MODE_WORDS:
                r.fault(position, tag, "/transport/mode", f"mode of transport {mode!r} is not a UN/ECE Rec. 19 code "
                        "Concord reads: 1 sea, 2 rail, 3 road, 4 air, 5 mail, 7 fixed installation, 8 inland waterway")
            else:
                r.put(transport, "mode", MODE_WORDS[mode], "/transport/mode", position, tag)
            if conveyance := component(s, 7):
                r.put(transport, "conveyance", conveyance, "/transport/conveyance", position, tag)
        elif tag == "EQD+CN":
            n = len(transport["containers"])
            transport["containers"].append(component(s, 1))
            r.places[f"/transport/containers/{n}"] = Place(position, tag, "C237/8260")
        elif tag in ("UNS+D", "UNS+S"):
            continue
        elif s.tag == "CST":
            item = {"documents": []}
            doc["items"].append(item)
            r.put(item, "hs_code", component(s, 1), f"/items/{len(doc['items']) - 1}/hs_code", position, tag)
        elif item is None:
            r.fault(position, tag, "", f"segment {s.tag} is not one Concord reads in the header; remove it")
        else:
            _item_segment(r, item, len(doc["items"]) - 1, s, tag, position)
    return r


def _item_segment(r: Reading, item: dict, n: int, s: Segment, tag: str, position: int) -> None:
    at = f"/items/{n}"
    if tag == "FTX+AAA":
        r.put(item, "description", _joined(s.elements[3]) if len(s.elements) > 3 else "", f"{at}/description",
              position, tag)
    elif tag == "LOC+27":
        r.put(item, "origin", component(s, 1), f"{at}/origin", position, tag)
    elif tag == "QTY+47":
        r.put(item, "quantity", _number(component(s, 0, 1)), f"{at}/quantity", position, tag)
        r.put(item, "unit", component(s, 0, 2), f"{at}/unit", position, tag)
    elif tag == "MEA+AAE" and component(s, 1) == "AAL":
        if component(s, 2) != "KGM":
            r.fault(position, tag, f"{at}/net_mass_kg", "give the net mass in kilograms (unit KGM)")
        r.put(item, "net_mass_kg", _number(component(s, 2, 1)), f"{at}/net_mass_kg", position, tag)
    elif tag == "MOA+38":
        value = item.setdefault("value", {})
        r.put(value, "amount", _number(component(s, 0, 1)), f"{at}/value/amount", position, tag)
        r.put(value, "currency", component(s, 0, 2), f"{at}/value/currency", position, tag)
    elif s.tag == "DOC":
        k = len(item["documents"])
        document: dict = {}
        item["documents"].append(document)
        r.put(document, "type", component(s, 0), f"{at}/documents/{k}/type", position, tag)
        r.put(document, "reference", component(s, 1), f"{at}/documents/{k}/reference", position, tag)
    else:
        r.fault(position, tag, at, f"segment {tag} is not one Concord reads in a goods item; remove it", "15")


def _parts(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def from_document(doc: dict) -> list[Segment]:
    """A declaration document (DeclarationIn's JSON form) as CUSDEC segments, UNH and UNT excluded."""
    arrival = datetime.fromisoformat(doc["arrival"].replace("Z", "+00:00")).astimezone(timezone.utc)
    out = [Segment("BGM", DOCUMENT_CODES[doc["type"]], doc["lrn"], "9"),
           Segment("DTM", ["132", arrival.strftime("%Y%m%d%H%M%S"), "204"]),
           Segment("LOC", "22", doc["office_of_entry"])]
    if doc.get("destination_country"):
        out.append(Segment("LOC", "28", doc["destination_country"]))
    for role, qualifier in ROLES.items():
        p = doc[role]
        out.append(Segment("NAD", qualifier, [p["id"], "", "9"], "", _parts(p["name"], NAME_PART),
                           _parts(p["address"], STREET_PART), "", "", "", p["country"]))
    t = doc["transport"]
    tdt = ["11", "", MODES[t["mode"]]] + ([""] * 4 + [t["conveyance"]] if t.get("conveyance") else [])
    out.append(Segment("TDT", *tdt))
    out += [Segment("EQD", "CN", c) for c in t.get("containers", [])]
    out.append(Segment("UNS", "D"))
    for n, i in enumerate(doc["items"], 1):
        out += [Segment("CST", str(n), i["hs_code"]),
                Segment("FTX", "AAA", "", "", _parts(i["description"], TEXT_PART)),
                Segment("LOC", "27", i["origin"]),
                Segment("QTY", ["47", i["quantity"], i["unit"]]),
                Segment("MEA", "AAE", "AAL", ["KGM", i["net_mass_kg"]]),
                Segment("MOA", ["38", i["value"]["amount"], i["value"]["currency"]])]
        out += [Segment("DOC", d["type"], d["reference"]) for d in i.get("documents", [])]
    out.append(Segment("UNS", "S"))
    return out
