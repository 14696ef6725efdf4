"""Sanctions lists and agency watchlists: loaded from CSV or from agency records into entries."""

import csv
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from concord.errors import InvalidDocument, ProblemList, pointer
from concord.screening.qualifiers import country_code, parse_date

Kind = Literal["person", "company", "unknown"]
Sharing = Literal["full", "hit_no_hit"]
KINDS = {"person": "person", "individual": "person", "company": "company", "organization": "company",
         "organisation": "company", "legalentity": "company", "entity": "company", "vessel": "unknown",
         "": "unknown", "unknown": "unknown"}
SEPARATOR = ";"  # between aliases, identifiers or dates in one CSV cell
SHOWN = 5  # rows a warning names: a list of thousands of faults stays one line, and the count says how many


@dataclass(frozen=True, slots=True)
class ListedParty:
    """One listed person or company, with its aliases, qualifiers and identifiers."""

    id: str
    list_id: str
    owner_agency: str
    names: tuple[str, ...]  # the primary name first, then aliases
    kind: Kind = "unknown"
    birth_dates: tuple[str, ...] = ()
    nationalities: tuple[str, ...] = ()  # ISO 3166-1 alpha-2
    identifiers: tuple[tuple[str, str], ...] = ()  # (scheme, value), e.g. ("EORI", "DE123")
    gender: str = ""
    place_of_birth: str = ""
    sharing: Sharing = "full"
    row: int | None = None  # position in the source file, from 0

    @property
    def name(self) -> str:
        """The primary name."""
        return self.names[0]

    @property
    def version(self) -> str:
        """Content hash: changes whenever anything a match depends on changes."""
        body = [self.names, self.kind, self.birth_dates, self.nationalities, self.identifiers]
        return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Watchlist:
    """A sanctions list or a watchlist an agency shares: owner and sharing rule apply to every entry."""

    id: str
    owner_agency: str
    entries: tuple[ListedParty, ...] = field(default=())
    sharing: Sharing = "full"


def split_values(value) -> tuple[str, ...]:
    """Values of a list, or of a CSV cell separated by semicolons, stripped and non-empty."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(SEPARATOR)
    return tuple(s for s in (str(i).strip() for i in items) if s)


def parse_identifiers(value) -> tuple[tuple[str, str], ...]:
    """(scheme, value) pairs from a mapping, a list of {scheme, value}, or 'EORI:DE123; LEI:...'."""
    if isinstance(value, Mapping):
        return tuple((str(k).upper(), str(v).strip()) for k, v in value.items() if str(v).strip())
    out = []
    for item in value if isinstance(value, (list, tuple)) else split_values(value):
        if isinstance(item, Mapping):
            out.append((str(item.get("scheme", "ID")).upper(), str(item.get("value", "")).strip()))
        else:
            scheme, _, number = str(item).rpartition(":")
            out.append(((scheme or "ID").upper(), number.strip()))
    return tuple(p for p in out if p[1])


def record_name(rec: Mapping) -> str:
    """full_name, else name, else first, middle and last name joined."""
    name = (rec.get("full_name") or rec.get("name") or "").strip()
    if not name:
        name = " ".join(p for p in (rec.get(k, "").strip() for k in ("first_name", "middle_name", "last_name")) if p)
    return name


def entry_from_record(rec: Mapping, *, list_id: str, owner_agency: str, sharing: Sharing = "full",
                      row: int | None = None) -> ListedParty:
    """Build an entry from a CSV row or an agency's watchlist record (dict)."""
    name = record_name(rec)
    countries = split_values(rec.get("nationality") or rec.get("nationalities")) + split_values(rec.get("country"))
    codes = tuple(dict.fromkeys(c for c in (country_code(v) for v in countries) if c))
    kind = KINDS.get(str(rec.get("kind") or rec.get("schema") or "").strip().lower(), "unknown")
    return ListedParty(
        id=str(rec.get("id") or f"{list_id}:{row}"), list_id=list_id, owner_agency=owner_agency,
        names=(name, *(a for a in split_values(rec.get("aliases")) if a != name)), kind=kind,
        birth_dates=split_values(rec.get("date_of_birth") or rec.get("birth_dates")), nationalities=codes,
        identifiers=parse_identifiers(rec.get("identifiers") or ()), gender=str(rec.get("gender") or ""),
        place_of_birth=str(rec.get("place_of_birth") or ""), sharing=sharing, row=row)


def watchlist_from_records(records: Iterable[Mapping], *, list_id: str, owner_agency: str,
                           sharing: Sharing = "full") -> Watchlist:
    """A watchlist from records; every record needs a name, and all faults are reported at once."""
    problems, entries = ProblemList(), []
    for row, rec in enumerate(records):
        if not record_name(rec):
            problems.add(pointer(row, "name"), "give the entry a name (full_name, or first_name and last_name)")
            continue
        entries.append(entry_from_record(rec, list_id=list_id, owner_agency=owner_agency, sharing=sharing, row=row))
    problems.raise_if_any(f"watchlist {list_id} has faults; nothing was loaded")
    return Watchlist(list_id, owner_agency, tuple(entries), sharing)


def unreadable_birth_dates(watchlist: Watchlist) -> list[tuple[int | None, str]]:
    """(row, value) of each entry with a date of birth that parse_date cannot read, which matching then ignores."""
    return [(e.row, bad[0]) for e in watchlist.entries if (bad := [d for d in e.birth_dates if parse_date(d) is None])]


def birth_date_warning(watchlist: Watchlist) -> str | None:
    """One line telling who loads the list which entries lose their date of birth, or None if none does.

    A warning, not a refusal: real lists are messy, and a refused list would screen nobody at all."""
    if not (bad := unreadable_birth_dates(watchlist)):
        return None
    more = ", ..." if len(bad) > SHOWN else ""
    rows = ", ".join(str(row) for row, _ in bad[:SHOWN])
    values = ", ".join(repr(value if len(value) <= 40 else value[:40] + "...") for _, value in bad[:SHOWN])
    return (f"{len(bad)} {'entry has' if len(bad) == 1 else 'entries have'} a date of birth that is not a date "
            f"(list row{'s' if len(bad) > 1 else ''} {rows}{more}: {values}{more}); matching ignores it, so an entry "
            "without another date is screened on name and country only; write dates as YYYY, YYYY-MM or YYYY-MM-DD")


def read_rows(path: Path) -> list[dict]:
    """Rows of a CSV file as dicts (UTF-8, a BOM tolerated); another encoding is refused with how to convert it."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            try:
                return list(reader)
            except csv.Error as e:
                # The limit stays: a name that long is not a name, more likely a quote left open to the end of the file.
                fault = (f"a field is longer than {csv.field_size_limit():,} characters; check the quoting before it"
                         if "field limit" in str(e) else str(e))
                raise InvalidDocument(f"{path} line {reader.reader.line_num}: {fault}") from None
    except UnicodeDecodeError as e:
        from concord.cliutil import not_utf8

        raise not_utf8(path, e) from None


def require_name_column(path: Path, rows: list[dict]) -> None:
    """Refuse a watchlist or queries file whose columns hold no name: its every row would silently match nothing."""
    if rows and not ({"full_name", "name", "last_name"} & set(rows[0])):
        raise InvalidDocument(f"{Path(path).name} needs a full_name (or name, or first_name and last_name) column")


def load_csv(path: Path, *, list_id: str | None = None, owner_agency: str = "unknown",
             sharing: Sharing = "full") -> Watchlist:
    """Load a sanctions list or watchlist CSV (full_name, first/middle/last_name, date_of_birth...)."""
    path = Path(path)
    rows = read_rows(path)
    if not rows:  # screening against nothing would answer "no match" for every name
        raise InvalidDocument(f"the watchlist {path.name} has no entries; give a CSV with a header row and a row per "
                              "listed party")
    require_name_column(path, rows)
    return watchlist_from_records(rows, list_id=list_id or path.stem, owner_agency=owner_agency, sharing=sharing)
