"""Qualifiers beside the name: birth dates and countries, compared where both sides have them."""

import re
from dataclasses import dataclass
from functools import lru_cache

import pycountry

# Score adjustments. Lists carry approximate birth years and data entry slips (a year off,
# a day and month swapped), so a conflict lowers the score rather than vetoing the match.
DOB_EXACT, DOB_YEAR, DOB_CLOSE, DOB_NEAR, DOB_CONFLICT = 0.06, 0.03, 0.0, -0.05, -0.10
COUNTRY_AGREE, COUNTRY_CONFLICT = 0.03, -0.06
MAX_RAISE = DOB_EXACT + COUNTRY_AGREE  # the most that birth date and country can add to a name score

# Common English names that pycountry does not know (it knows "Korea, Republic of").
_COUNTRY_ALIASES = {
    "turkey": "TR", "ivory coast": "CI", "russia": "RU", "east timor": "TL", "brunei": "BN",
    "democratic republic of the congo": "CD", "dr congo": "CD", "republic of the congo": "CG",
    "south korea": "KR", "north korea": "KP", "iran": "IR", "syria": "SY", "laos": "LA",
    "vietnam": "VN", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD",
    "palestine": "PS", "vatican": "VA", "macedonia": "MK", "uk": "GB", "usa": "US",
    "united states of america": "US", "kosovo": "XK", "cape verde": "CV", "swaziland": "SZ",
    "burma": "MM", "czech republic": "CZ",
}
# Lists write an approximate year after it ('1970 (circa)') or before it ('circa 1970', 'c. 1970', '~1970').
_DATE_RE = re.compile(r"^\s*(?:(?:circa|ca\.?|c\.|approx(?:imately|\.)?|about|~)\s*)?(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?",
                      re.IGNORECASE)


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code for a code or an English country name; None when unknown."""
    text = (value or "").strip()
    if not text:
        return None
    if alias := _COUNTRY_ALIASES.get(text.lower()):
        return alias
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


@lru_cache(maxsize=100_000)
def parse_date(value: str | None) -> tuple[int, int | None, int | None] | None:
    """(year, month, day) from 'YYYY', 'YYYY-MM' or 'YYYY-M-D', 'circa' or '~' before or after; month and day may
    be None."""
    m = _DATE_RE.match(value or "")
    if not m:
        return None
    year, month, day = (int(g) if g else None for g in m.groups())
    return year, month, day


@dataclass(frozen=True, slots=True)
class QualifierResult:
    """One qualifier compared: agreed, close or conflicted, and by how much it moved the score."""

    qualifier: str
    outcome: str
    query_value: str
    entry_value: str
    adjustment: float

    def as_dict(self) -> dict:
        """JSON form for the explanation."""
        return {"qualifier": self.qualifier, "outcome": self.outcome, "query": self.query_value,
                "entry": self.entry_value, "adjustment": self.adjustment}


def _dob_pair(q: tuple, e: tuple) -> tuple[str, float]:
    years_apart = abs(q[0] - e[0])
    if years_apart == 0:
        if q[1] and e[1] and q[2] and e[2]:
            return ("agreed", DOB_EXACT) if (q[1], q[2]) == (e[1], e[2]) else ("close", DOB_CLOSE)
        return "agreed", DOB_YEAR
    if years_apart == 1:
        return "close", DOB_CLOSE
    return ("conflicted", DOB_NEAR) if years_apart <= 3 else ("conflicted", DOB_CONFLICT)


def compare_birth_dates(query: tuple[str, ...], entry: tuple[str, ...]) -> QualifierResult | None:
    """Best agreement between any query birth date and any entry birth date (lists give several)."""
    qs = [(d, p) for d in query if (p := parse_date(d))]
    es = [(d, p) for d in entry if (p := parse_date(d))]
    if not qs or not es:
        return None
    best = max(((qd, ed) + _dob_pair(qp, ep) for qd, qp in qs for ed, ep in es), key=lambda r: r[3])
    return QualifierResult("birth_date", best[2], best[0], best[1], best[3])


def compare_countries(query: tuple[str, ...], entry: tuple[str, ...]) -> QualifierResult | None:
    """Nationality or country: agreed when the sets share a code, conflicted when disjoint."""
    if not query or not entry:
        return None
    shared = set(query) & set(entry)
    if shared:
        code = sorted(shared)[0]
        return QualifierResult("country", "agreed", code, code, COUNTRY_AGREE)
    return QualifierResult("country", "conflicted", ",".join(query), ",".join(entry), COUNTRY_CONFLICT)
