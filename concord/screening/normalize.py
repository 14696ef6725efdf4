"""Name normalization: one comparable form for every way a name is written.

Transliteration (anyascii), case, diacritics, punctuation, honorifics and company legal
forms are handled here, once per name, so that the scorer and the index only ever see
lowercase ASCII tokens with their phonetic keys.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from anyascii import anyascii

# Dropped wherever they stand: they say who someone is, not what they are called.
HONORIFICS = frozenset("""
mr mrs ms miss mx dr prof sir dame lord lady madam madame mme mlle monsieur herr frau
president prasident presidente shaikh sheikh sheik shaykh haji hajji alhaji mullah mulla
maulvi maulavi mawlawi maulana hafiz qari imam general gen colonel col captain capt major
lieutenant lt sgt the mv
""".split())

# Generational suffixes and name particles: kept, but they weigh little in a match.
PARTICLES = frozenset("""
al el bin ben ibn bint abu abou ould de da di do dos das du del della van der den von
la le ul ur ud y e jr sr ii iii iv and of for
""".split())

# Company legal forms, multi-word first; each maps to a canonical form so that
# "Joint Stock Company", "JSC" and "OAO" compare equal. Phrases are written after
# folding (ASCII, lowercase, acronym dots removed, punctuation as spaces).
_LEGAL_FORMS = {
    "jsc": "joint stock company|open joint stock company|closed joint stock company|public joint stock company"
           "|jsc|ojsc|cjsc|pjsc|oao|zao|pao|ao|aktsionernoe obshchestvo|aktsionernoye obshchestvo",
    "llc": "limited liability company|llc|ooo|obshchestvo s ogranichennoy otvetstvennostyu"
           "|obshchestvo s ogranichennoi otvetstvennostiu|tov",
    "ltd": "limited|ltd|private limited|pvt ltd|pte ltd|pty ltd|pte|pty|pvt",
    "plc": "public limited company|plc",
    "inc": "incorporated|inc",
    "corp": "corporation|corp",
    "co": "company|co|compagnie|cie",
    "gmbh": "gesellschaft mit beschrankter haftung|gmbh|gmbh co kg",
    "ag": "aktiengesellschaft|ag",
    "kg": "kommanditgesellschaft|kg",
    "sa": "societe anonyme|sociedad anonima|sociedade anonima|sa|sa de cv|sab de cv|spa|sas|sasu",
    "sarl": "societe a responsabilite limitee|sarl",
    "srl": "societatea cu raspundere limitata|societa a responsabilita limitata|srl|sl|sro",
    "spzoo": "sp z oo|spolka z ograniczona odpowiedzialnoscia|spzoo",
    "bv": "besloten vennootschap|bv|bvba",
    "nv": "naamloze vennootschap|nv",
    "ab": "aktiebolag|ab",
    "as": "as|asa|aps",
    "oy": "oy|oyj",
    "llp": "limited liability partnership|llp",
    "lp": "limited partnership|lp",
    "se": "se",
    "na": "na",
}
_LEGAL_PHRASES: dict[tuple[str, ...], str] = {
    tuple(phrase.split()): canon for canon, phrases in _LEGAL_FORMS.items() for phrase in phrases.split("|")
}
_MAX_PHRASE = max(len(p) for p in _LEGAL_PHRASES)
# Short forms that are also ordinary name parts (Ao, Co, Se, Na...) count as a legal form
# only at the start or end of a name, unless the name is known to be a company.
_AMBIGUOUS = frozenset(p for p in _LEGAL_PHRASES if len(p) == 1 and len(p[0]) <= 3)

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_NUMBER_WORDS |= {w: str(i) for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth".split()) if i}
_ORDINAL_RE = re.compile(r"^(\d+)(?:st|nd|rd|th)$")

_APOSTROPHES = re.compile(r"['`´ʹʻʼ’‘?]")  # "?" stands for a character lost in an export
_ACRONYM = re.compile(r"\b(?:[a-z0-9]\.){2,}(?![a-z0-9])|\b(?:[a-z]\.)+[a-z]\b")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_LEADING_VOWEL = re.compile(r"^[AEIOU]")


def fold(text: str) -> str:
    """Transliterate to ASCII, lowercase, join dotted acronyms, punctuation to spaces."""
    text = anyascii(text or "").lower().replace("&", " and ")
    text = _APOSTROPHES.sub("", text)
    text = _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text)
    return _NON_ALNUM.sub(" ", text).strip()


@lru_cache(maxsize=200_000)
def phonetic(token: str) -> str:
    """Metaphone key of a token, its leading vowel unified (Usama/Osama, Ali/Aly agree)."""
    if token.isdigit():
        return token
    return _LEADING_VOWEL.sub("A", jellyfish.metaphone(token)) or token


@dataclass(frozen=True, slots=True)
class NameForm:
    """A name reduced to comparable tokens, with what was stripped kept for explanations."""

    original: str
    tokens: tuple[str, ...]
    legal_forms: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()  # honorifics and titles
    phonetics: tuple[str, ...] = ()  # computed once here: every comparison needs them
    weights: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        """Order-free normalized name: the same for every spelling that normalizes alike."""
        return " ".join(sorted(self.tokens)) + ("|" + " ".join(sorted(self.legal_forms)) if self.legal_forms else "")


def _strip_legal_forms(tokens: list[str], company: bool) -> tuple[list[str], list[str]]:
    kept, forms, i = [], [], 0
    while i < len(tokens):
        for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            phrase = tuple(tokens[i:i + n])
            canon = _LEGAL_PHRASES.get(phrase)
            edge = i == 0 or i + n == len(tokens)
            if canon and (company or phrase not in _AMBIGUOUS or edge) and len(tokens) > n:
                forms.append(canon)
                i += n
                break
        else:
            kept.append(tokens[i])
            i += 1
    return kept, forms


def _number(token: str) -> str:
    m = _ORDINAL_RE.match(token)
    return m.group(1) if m else _NUMBER_WORDS.get(token, token)


@lru_cache(maxsize=65536)  # the same traders and exporters are screened again and again
def normalize_name(name: str, kind: str = "unknown") -> NameForm:
    """Normalize a person or company name (kind: person, company or unknown)."""
    tokens = [_number(t) for t in fold(name).split()]
    dropped = [t for t in tokens if t in HONORIFICS]
    if len(dropped) < len(tokens):
        tokens = [t for t in tokens if t not in HONORIFICS]
    else:
        dropped = []
    forms: list[str] = []
    if kind != "person":
        tokens, forms = _strip_legal_forms(tokens, company=kind == "company")
    return NameForm(original=name, tokens=tuple(tokens), legal_forms=tuple(forms), dropped=tuple(dropped),
                    phonetics=tuple(phonetic(t) for t in tokens), weights=tuple(token_weight(t) for t in tokens))


def token_weight(token: str) -> float:
    """How much a token says about identity: particles and initials little, long tokens more."""
    if token in PARTICLES:
        return 0.3
    if len(token) == 1:
        return 0.5
    return min(1.0, 0.5 + len(token) / 10)
