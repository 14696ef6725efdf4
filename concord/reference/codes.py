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


@lru_cache
def hs_subheadings() -> frozenset[str]:
    """The 6-digit HS subheadings (ASCII digits) of the nomenclature that a declaration may carry."""
    return frozenset(code for code in hs_nomenclature() if len(code) == 6 and code.isascii() and code.isdigit()
                     and not code.startswith(UNCLASSIFIED_CHAPTER))


# Chapter 99 of the statistical nomenclature ("commodities not specified according to kind", 999999) classifies
# nothing: goods declared under it would match no agency's routing rule and clear unexamined. Customs refuses
# them at lodgement, so the trader classifies the goods (or asks customs for a binding tariff ruling) first.
UNCLASSIFIED_CHAPTER = "99"


HS_RE = re.compile(r"^\d{6}(\d{2}){0,2}$")
LOCODE_RE = re.compile(r"^([A-Z]{2}) ?([A-Z2-9]{3})$")
CONTAINER_RE = re.compile(r"^([A-Z]{3})([UJZ])(\d{6})(\d)$")
IMO_RE = re.compile(r"^(?:IMO ?)?(\d{7})$")


# The checks below are pure functions of a short string and run for every code of every declaration;
# a bounded cache makes repeated codes (the usual case) a dictionary lookup.
@lru_cache(maxsize=8192)
def hs_problem(code: str) -> str | None:
    """None when the code is a known HS subheading (national 8/10-digit extensions allowed)."""
    if not HS_RE.match(code):
        return "HS code must be 6, 8 or 10 digits, e.g. 090111"
    if code.startswith(UNCLASSIFIED_CHAPTER):
        return (f"HS {code[:6]} (chapter 99, commodities not specified according to kind) does not classify goods; "
                f"declare the goods' subheading, or ask customs for a binding tariff ruling first")
    if code[:6] not in hs_nomenclature():
        return f"HS subheading {code[:6]} is not in the Harmonized System nomenclature"
    return None


@lru_cache(maxsize=4096)
def country_problem(code: str) -> str | None:
    if code not in countries():
        return f"'{code}' is not an ISO 3166-1 alpha-2 country code (e.g. DE, CN, BR)"
    return None


@lru_cache(maxsize=4096)
def currency_problem(code: str) -> str | None:
    if code not in currencies():
        return f"'{code}' is not an ISO 4217 currency code (e.g. EUR, USD)"
    return None


@lru_cache(maxsize=8192)
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


_ISO6346_VALUES = {ch: _iso6346_value(ch) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def _iso6346_table(chars: str, size: int, start: int) -> dict[str, int]:
    """Weighted sums of every `size`-character chunk at position `start`: a container number is four lookups."""
    table = {"": 0}
    for i in range(size):
        table = {prefix + ch: total + _ISO6346_VALUES[ch] * (1 << (start + i)) for prefix, total in table.items()
                 for ch in chars}
    return table


_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OWNER_A, _OWNER_B = _iso6346_table(_ALNUM, 2, 0), _iso6346_table(_ALNUM, 2, 2)
_SERIAL_A, _SERIAL_B = _iso6346_table("0123456789", 3, 4), _iso6346_table("0123456789", 3, 7)


def iso6346_check_digit(first10: str) -> int:
    if len(first10) == 10:
        try:  # owner code and category in two 2-character chunks, the serial number in two 3-digit chunks
            return (_OWNER_A[first10[:2]] + _OWNER_B[first10[2:4]] + _SERIAL_A[first10[4:7]]
                    + _SERIAL_B[first10[7:10]]) % 11 % 10
        except KeyError:
            pass  # e.g. digits of another script, which the pattern's \d lets through
    total = sum(_iso6346_value(ch) * (1 << i) for i, ch in enumerate(first10))
    return total % 11 % 10


def iso6346_valid(number: str) -> bool:
    """Whether the check digit is right, for a number already in the ASCII form [A-Z]{3}[UJZ][0-9]{7}."""
    return (_OWNER_A[number[:2]] + _OWNER_B[number[2:4]] + _SERIAL_A[number[4:7]]
            + _SERIAL_B[number[7:10]]) % 11 % 10 == ord(number[10]) - 48


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
