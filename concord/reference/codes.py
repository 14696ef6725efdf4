"""Validation of codes against reference data; lookups are sets built once, for ingest speed."""

import csv
import re
from functools import lru_cache
from importlib import resources

import pycountry


@lru_cache
def hs_nomenclature() -> dict[str, str]:
    """HS code (2, 4 or 6 digits) -> description."""
    with resources.files("concord.reference").joinpath("data/harmonized-system.csv").open(encoding="utf-8") as f:
        return {row["hscode"]: row["description"] for row in csv.DictReader(f)}


@lru_cache
def countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@lru_cache
def currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


HS_RE = re.compile(r"^\d{6}(\d{2}){0,2}$")
LOCODE_RE = re.compile(r"^([A-Z]{2}) ?([A-Z2-9]{3})$")
CONTAINER_RE = re.compile(r"^([A-Z]{3})([UJZ])(\d{6})(\d)$")
IMO_RE = re.compile(r"^(?:IMO ?)?(\d{7})$")


def hs_problem(code: str) -> str | None:
    """None when the code is a known HS subheading (national 8/10-digit extensions allowed)."""
    if not HS_RE.match(code):
        return "HS code must be 6, 8 or 10 digits, e.g. 090111"
    if code[:6] not in hs_nomenclature():
        return f"HS subheading {code[:6]} is not in the Harmonized System nomenclature"
    return None


def country_problem(code: str) -> str | None:
    if code not in countries():
        return f"'{code}' is not an ISO 3166-1 alpha-2 country code (e.g. DE, CN, BR)"
    return None


def currency_problem(code: str) -> str | None:
    if code not in currencies():
        return f"'{code}' is not an ISO 4217 currency code (e.g. EUR, USD)"
    return None


def locode_problem(code: str) -> str | None:
    m = LOCODE_RE.match(code)
    if not m:
        return "UN/LOCODE must be a country code and 3 letters or digits 2-9, e.g. NLRTM"
    if m.group(1) not in countries():
        return f"UN/LOCODE country part '{m.group(1)}' is not an ISO 3166-1 country"
    return None


def _iso6346_value(ch: str) -> int:
    if ch.isdigit():
        return int(ch)
    value = 10 + ord(ch) - ord("A")
    # The letter values skip multiples of 11 (11, 22, 33).
    return value + (value - 1) // 10 if value > 10 else value


def iso6346_check_digit(first10: str) -> int:
    total = sum(_iso6346_value(ch) * (1 << i) for i, ch in enumerate(first10))
    return total % 11 % 10


def container_problem(number: str) -> str | None:
    m = CONTAINER_RE.match(number)
    if not m:
        return "container number must follow ISO 6346: owner code, category U/J/Z, 6 digits, check digit (e.g. MSCU1234566)"
    expected = iso6346_check_digit(number[:10])
    if int(number[10]) != expected:
        return f"ISO 6346 check digit of {number} should be {expected}"
    return None


def imo_problem(number: str) -> str | None:
    m = IMO_RE.match(number)
    if not m:
        return "IMO number must be 7 digits, optionally prefixed 'IMO', e.g. IMO9074729"
    digits = m.group(1)
    expected = sum(int(d) * (7 - i) for i, d in enumerate(digits[:6])) % 10
    if int(digits[6]) != expected:
        return f"IMO check digit of {digits} should be {expected}"
    return None
