"""Dataset adapters: historical files and live declarations -> canonical risk records with outcomes."""

import csv
import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from concord.errors import ConcordError


@dataclass(slots=True)
class RiskRecord:
    """One goods item of one declaration, as the risk model sees it, with its outcome if known."""

    declaration_id: str
    when: datetime  # declaration time, UTC; history is queried strictly before it
    office: str | None = None
    declarant: str | None = None
    importer: str | None = None
    seller: str | None = None
    courier: str | None = None
    hs6: str = ""
    origin: str | None = None
    departure: str | None = None
    mode: str | None = None
    net_mass: float = 0.0
    value: float = 0.0
    tax_rate: float | None = None
    # categorical fields that only some administrations declare (KCS has all of them)
    process_type: str | None = None
    import_type: str | None = None
    import_use: str | None = None
    payment_type: str | None = None
    tax_type: str | None = None
    origin_indicator: str | None = None
    # outcome of an inspection: None until known
    fraud: int | None = None
    critical: int | None = None
    revenue: float | None = None
    ts: int = field(init=False, repr=False)  # seconds since the epoch: the unit of history queries

    def __post_init__(self):
        self.ts = int(self.when.timestamp())

    def with_outcome(self, fraud: int, critical: int = 0, revenue: float | None = None) -> "RiskRecord":
        """A copy carrying the outcome an inspection found."""
        return replace(self, fraud=int(fraud), critical=int(critical), revenue=revenue)


class UnknownDataset(ConcordError):
    """A dataset name no adapter is registered under."""

    status = 400
    code = "unknown_dataset"


# KCS mode-of-transport codes (UNI-PASS) mapped to Concord's transport modes, so that
# live declarations and KCS rows share one vocabulary; unknown codes stay visible as kcs:<code>.
KCS_MODES = {"10": "sea", "20": "rail", "30": "road", "40": "air", "50": "post", "90": "other"}


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


class _BadValue(ValueError):
    """A value a loader cannot read; the loader names the file and line."""


def _number(value: str | None, column: str) -> float:
    """A numeric cell: empty reads as 0; anything else that is not a finite number is refused, since a silent 0
    (or a NaN) would train the model on a value the file never had."""
    value = (value or "").strip()
    if not value:
        return 0.0
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _BadValue(f"{column} must be a number, not {value!r}")
    return number


def _code(value: str | None, column: str, codes: tuple[str, ...]) -> int | None:
    """A label cell: empty is unlabelled (None); otherwise one of `codes`."""
    value = _text(value)
    if value is not None and value not in codes:
        raise _BadValue(f"{column} must be {', '.join(codes[:-1])} or {codes[-1]}, not {value!r}")
    return None if value is None else int(value)


def _date(value: str | None) -> datetime:
    try:
        return datetime.strptime((value or "").strip(), "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise _BadValue(f"Date {value!r} is not YYYY-MM-DD") from None


KCS_COLUMNS = ("Declaration ID", "Date", "Office ID", "Declarant ID", "Importer ID", "Seller ID", "Courier ID",
               "HS6 Code", "Country of Origin", "Country of Departure", "Mode of Transport", "Net Mass", "Item Price",
               "Tax Rate", "Process Type", "Import Type", "Import Use", "Payment Type", "Tax Type",
               "Country of Origin Indicator")


def _kcs_record(row: dict) -> RiskRecord:
    mode = _text(row["Mode of Transport"])
    critical = _code(row.get("Critical Fraud"), "Critical Fraud", ("0", "1", "2"))
    return RiskRecord(
        declaration_id=row["Declaration ID"],
        when=_date(row["Date"]),
        office=_text(row["Office ID"]), declarant=_text(row["Declarant ID"]),
        importer=_text(row["Importer ID"]), seller=_text(row["Seller ID"]), courier=_text(row["Courier ID"]),
        hs6=(row["HS6 Code"] or "").strip().zfill(6)[:6],
        origin=_text(row["Country of Origin"]), departure=_text(row["Country of Departure"]),
        mode=KCS_MODES.get(mode, f"kcs:{mode}") if mode else None,
        net_mass=_number(row["Net Mass"], "Net Mass"), value=_number(row["Item Price"], "Item Price"),
        tax_rate=_number(row["Tax Rate"], "Tax Rate"),
        process_type=_text(row["Process Type"]), import_type=_text(row["Import Type"]),
        import_use=_text(row["Import Use"]), payment_type=_text(row["Payment Type"]),
        tax_type=_text(row["Tax Type"]), origin_indicator=_text(row["Country of Origin Indicator"]),
        fraud=_code(row.get("Fraud"), "Fraud", ("0", "1")),
        # KCS codes Critical Fraud 0/1/2; 2 is the critical case the metrics count
        critical=int(critical == 2) if critical is not None else None,
    )


def load_kcs(path: str | Path) -> list[RiskRecord]:
    """Read a KCS customs declaration CSV (Seondong/Customs-Declaration-Datasets) into records."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in KCS_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ConcordError(f"{path} lacks the KCS columns {', '.join(missing)}: is it a KCS declaration CSV "
                                   f"(--dataset kcs), or Concord's JSON lines (--dataset jsonl)?")
            records = []
            for row in reader:
                # csv fills a short row with None and files a long row's extra cells under None: either way
                # the cells no longer sit under their columns
                if None in row or None in row.values():
                    cells = len(reader.fieldnames) + len(row.get(None) or ()) - list(row.values()).count(None)
                    raise ConcordError(f"{path} line {reader.line_num} has {cells} cells, the header "
                                       f"{len(reader.fieldnames)}: each row needs one cell per column")
                try:
                    records.append(_kcs_record(row))
                except _BadValue as e:
                    raise ConcordError(f"{path} line {reader.line_num}: {e}") from None
    except csv.Error as e:
        raise ConcordError(f"{path} line {reader.line_num}: not a CSV row ({e})") from None
    except UnicodeDecodeError as e:
        from concord.cliutil import not_utf8

        raise not_utf8(path, e) from None
    records.sort(key=lambda r: r.when)  # stable: keeps file order within a day
    return records


_FIELDS = [f for f in RiskRecord.__dataclass_fields__ if f != "ts"]


def record_to_dict(r: RiskRecord) -> dict:
    """JSON-ready form of a record (time as ISO 8601), one line of a JSON-lines export."""
    return {f: (r.when.isoformat() if f == "when" else getattr(r, f)) for f in _FIELDS}


def _shown(value) -> str:
    """A value as an error shows it: a string quoted as the KCS errors quote a cell, anything else as JSON."""
    return repr(value) if isinstance(value, str) else json.dumps(value)


_NUMBERS = {"net_mass": False, "value": False, "tax_rate": True, "revenue": True}  # field -> may be null
_LABELS = ("fraud", "critical")


def _check_field(name: str, value) -> None:
    """A field of a JSON record holds what record_to_dict writes, or training fails far from the line at fault."""
    if name in _NUMBERS:
        if value is None and _NUMBERS[name]:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _BadValue(f"{name} must be a number, not {_shown(value)}")
    elif name in _LABELS:
        if value is not None and (isinstance(value, bool) or value not in (0, 1)):
            raise _BadValue(f"{name} must be 0, 1 or null, not {_shown(value)}")
    elif not isinstance(value, str) and (value is not None or name in ("declaration_id", "hs6")):
        raise _BadValue(f"{name} must be a string, not {_shown(value)}")


def record_from_dict(d: dict) -> RiskRecord:
    """Inverse of record_to_dict; _BadValue names the field at fault."""
    if missing := [f'"{name}"' for name in ("when", "declaration_id") if name not in d]:
        raise _BadValue(f"lacks {' and '.join(missing)}")
    try:
        when = datetime.fromisoformat(d["when"])
    except (TypeError, ValueError):
        raise _BadValue(f"when {_shown(d['when'])} is not an ISO 8601 time") from None
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    fields = {f: d[f] for f in _FIELDS if f in d and f != "when"}
    for name, value in fields.items():
        _check_field(name, value)
    return RiskRecord(**fields, when=when)


def load_jsonl(path: str | Path) -> list[RiskRecord]:
    """Canonical records with outcomes, one JSON object a line: Concord's own recorded outcomes, exported."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    why = None if isinstance(d, dict) else "an array" if isinstance(d, list) else _shown(d)
                except json.JSONDecodeError as e:
                    why = f"{e.msg}, column {e.colno}"
                if why is not None:
                    raise ConcordError(f"{path} line {n}: not a JSON object ({why}); --dataset jsonl reads one "
                                       f"object a line, a KCS CSV is --dataset kcs")
                try:
                    records.append(record_from_dict(d))
                except _BadValue as e:
                    where = " " if str(e).startswith("lacks") else ": "
                    raise ConcordError(f"{path} line {n}{where}{e}") from None
    except UnicodeDecodeError as e:
        from concord.cliutil import not_utf8

        raise not_utf8(path, e) from None
    records.sort(key=lambda r: r.ts)
    return records


ADAPTERS = {"kcs": load_kcs, "jsonl": load_jsonl}


def load_dataset(name: str, path: str | Path) -> list[RiskRecord]:
    """Load a historical file with the adapter registered under `name`."""
    if name not in ADAPTERS:
        raise UnknownDataset(f"unknown dataset '{name}'; choose one of: {', '.join(sorted(ADAPTERS))}")
    return ADAPTERS[name](path)


def _party_id(doc: dict, role: str) -> str | None:
    party = doc.get(role) or {}
    return _text(str(party["id"])) if party.get("id") is not None else None


def record_from_declaration(doc: dict, item_index: int) -> RiskRecord:
    """Map one goods item of a live Concord declaration document to a risk record (no outcome yet)."""
    item = doc["items"][item_index]
    when = doc.get("submitted_at") or doc.get("arrival")
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    when = (when or datetime.now(timezone.utc))
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    value = item.get("value") or {}
    exporter = doc.get("exporter") or {}
    return RiskRecord(
        declaration_id=f"{doc.get('id') or doc.get('lrn', '')}#{item_index}",
        when=when,
        office=_text(doc.get("office_of_entry")),
        declarant=_party_id(doc, "declarant"), importer=_party_id(doc, "importer"),
        seller=_party_id(doc, "exporter"),
        hs6=str(item["hs_code"]).strip()[:6],
        origin=_text(item.get("origin")),
        departure=_text(exporter.get("country")),  # the country the goods are consigned from
        mode=_text((doc.get("transport") or {}).get("mode")),
        net_mass=float(item.get("net_mass_kg") or 0), value=float(value.get("amount") or 0),
    )


def labelled_records(doc: dict, fraud: bool, critical: bool = False, revenue: float | None = None) -> list[RiskRecord]:
    """An inspection outcome on a live declaration as labels: every item labelled, revenue shared by value."""
    records = [record_from_declaration(doc, i) for i in range(len(doc["items"]))]
    total = sum(r.value for r in records) or 1.0
    return [r.with_outcome(int(fraud), int(critical), None if revenue is None else float(revenue) * r.value / total)
            for r in records]
