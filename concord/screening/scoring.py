"""Name similarity: align the tokens of two names and score how much of each is accounted for.

Word order is free (tokens are aligned, not compared in sequence). A token that has no
counterpart on one side only (an added middle name, a patronymic) costs little; a token
on each side with no counterpart (a different surname, a different father's name) means
two different people and costs a lot. Token similarity comes from rapidfuzz, phonetic
agreement from metaphone keys (jellyfish).
"""

from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from concord.screening.normalize import PARTICLES, NameForm, phonetic, token_weight

MIN_TOKEN_SIM = 0.6  # below this two tokens are different words, not spellings of one
PHONETIC_FLOOR = 0.88  # same metaphone key: as good as a one-letter slip
INITIAL_SIM = 0.85  # "J" for "Joachim"
EXTRA_PENALTY = 0.12  # share of the longer name left unexplained when the shorter is covered
LONE_TOKEN_PENALTY = 0.35  # a single-word name inside a longer one says little ("Walijan")
CONFLICT_PENALTY = 0.10  # tokens unexplained on both sides
JOINED_MIN = 0.9  # merged or split words ("AlisherUsmanov") compared as one string


@dataclass(frozen=True, slots=True)
class TokenPair:
    """Two aligned tokens, their similarity and how they agreed."""

    query: str
    entry: str
    similarity: float
    how: str  # exact, fuzzy, phonetic, initial

    def as_dict(self) -> dict:
        return {"query": self.query, "entry": self.entry, "similarity": round(self.similarity, 3), "how": self.how}


@dataclass(frozen=True, slots=True)
class NameScore:
    """Similarity of two names in [0, 1] with the alignment that explains it."""

    score: float
    pairs: tuple[TokenPair, ...] = ()
    query_only: tuple[str, ...] = ()
    entry_only: tuple[str, ...] = ()
    method: str = "tokens"  # or "joined" when words were merged or split

    def as_dict(self) -> dict:
        return {"score": round(self.score, 4), "method": self.method, "pairs": [p.as_dict() for p in self.pairs],
                "query_only": list(self.query_only), "entry_only": list(self.entry_only)}


def _pair(a: str, b: str, sim: float) -> TokenPair | None:
    if a == b:
        return TokenPair(a, b, 1.0, "exact")
    if len(a) == 1 or len(b) == 1:
        short, long_ = (a, b) if len(a) == 1 else (b, a)
        return TokenPair(a, b, INITIAL_SIM, "initial") if long_.startswith(short) and len(long_) > 1 else None
    if a.isdigit() or b.isdigit():
        return None  # numbers (fund series, brigade numbers) must agree exactly
    if len(a) > 2 and len(b) > 2 and phonetic(a) == phonetic(b) and sim < PHONETIC_FLOOR:
        return TokenPair(a, b, PHONETIC_FLOOR, "phonetic")
    return TokenPair(a, b, sim, "fuzzy") if sim >= MIN_TOKEN_SIM else None


def align(q: tuple[str, ...], e: tuple[str, ...]) -> list[tuple[int, int, TokenPair]]:
    """Greedy one-to-one alignment of tokens, best pairs first."""
    matrix = process.cdist(q, e, scorer=OSA.normalized_similarity).tolist()
    candidates = []
    for i, row in enumerate(matrix):
        for j, sim in enumerate(row):
            if (pair := _pair(q[i], e[j], sim)) is not None:
                # Ties go to the longer tokens, which say more about identity.
                candidates.append((pair.similarity, len(q[i]) + len(e[j]), i, j, pair))
    candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)
    used_q, used_e, out = set(), set(), []
    for _, _, i, j, pair in candidates:
        if i not in used_q and j not in used_e:
            used_q.add(i)
            used_e.add(j)
            out.append((i, j, pair))
    return out


def _content(tokens) -> int:
    return sum(1 for t in tokens if t not in PARTICLES and len(t) > 1)


def token_score(q: tuple[str, ...], e: tuple[str, ...]) -> NameScore:
    """Score from the token alignment alone."""
    aligned = align(q, e)
    wq = [token_weight(t) for t in q]
    we = [token_weight(t) for t in e]
    matched_q = {i for i, _, _ in aligned}
    matched_e = {j for _, j, _ in aligned}
    pair_weight = sum((wq[i] + we[j]) / 2 for i, j, _ in aligned)
    pair_score = sum(p.similarity * (wq[i] + we[j]) / 2 for i, j, p in aligned)
    q_only = [k for k in range(len(q)) if k not in matched_q]
    e_only = [k for k in range(len(e)) if k not in matched_e]
    uq, ue = sum(wq[k] for k in q_only), sum(we[k] for k in e_only)
    if not aligned:
        score = 0.0
    elif _content(q[k] for k in q_only) and _content(e[k] for k in e_only):
        # Each side keeps a word the other cannot explain: most likely another person.
        score = pair_score / (pair_weight + max(uq, ue)) - CONFLICT_PENALTY
    else:
        # Unmatched particles (bin / ibn, al / el) on both sides are spelling, not identity.
        extra = uq + ue
        score = pair_score / pair_weight - EXTRA_PENALTY * extra / max(sum(wq), sum(we))
        covered = e if _content(q[k] for k in q_only) else q
        if extra and _content(covered) < 2:
            score -= LONE_TOKEN_PENALTY
    return NameScore(max(0.0, min(1.0, score)), tuple(p for _, _, p in aligned),
                     tuple(q[k] for k in q_only), tuple(e[k] for k in e_only))


def compare_names(query: NameForm, entry: NameForm) -> NameScore:
    """Similarity of two normalized names, with the explanation of which parts matched how."""
    if not query.tokens or not entry.tokens:
        return NameScore(0.0)
    result = token_score(query.tokens, entry.tokens)
    # Only a differing word count hints at merged or split words.
    if len(query.tokens) + len(query.legal_forms) != len(entry.tokens) + len(entry.legal_forms) and result.score < 1:
        # Legal forms take part here so that "SiemensAG" still meets "Siemens AG".
        joined = OSA.normalized_similarity("".join(query.tokens + query.legal_forms),
                                                   "".join(entry.tokens + entry.legal_forms))
        if joined >= JOINED_MIN and joined > result.score:
            result = NameScore(joined, (TokenPair(" ".join(query.tokens), " ".join(entry.tokens), joined, "joined"),),
                               method="joined")
    return result
