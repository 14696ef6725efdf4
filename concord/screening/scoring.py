"""Name similarity: align the tokens of two names and score how much of each is accounted for.

Word order is free (tokens are aligned, not compared in sequence). A token that has no
counterpart on one side only (an added middle name, a patronymic) costs little; a token
on each side with no counterpart (a different surname, a different father's name) means
two different people and costs a lot. Token similarity comes from rapidfuzz, phonetic
agreement from metaphone keys (jellyfish).
"""

from dataclasses import dataclass

from rapidfuzz.distance import OSA

from concord.screening.normalize import PARTICLES, NameForm

MIN_TOKEN_SIM = 0.6  # below this two tokens are different words, not spellings of one
INITIAL_SIM = 0.85  # "J" for "Joachim"
EXTRA_PENALTY = 0.12  # share of the longer name left unexplained when the shorter is covered
LONE_TOKEN_PENALTY = 0.35  # a single-word name inside a longer one says little ("Walijan")
CONFLICT_PENALTY = 0.10  # tokens unexplained on both sides
JOINED_MIN = 0.9  # merged or split words ("AlisherUsmanov") compared as one string
# A looser cutoff for rapidfuzz's early exit: its cutoff rounds to whole edits and drops 0.6 for 3 of 5 letters.
_CUTOFF = MIN_TOKEN_SIM - 0.1


@dataclass(frozen=True, slots=True)
class TokenPair:
    """Two aligned tokens, their similarity and how they agreed."""

    query: str
    entry: str
    similarity: float
    how: str  # exact, fuzzy, phonetic, initial

    def as_dict(self) -> dict:
        """JSON form for the explanation."""
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
        """JSON form for the explanation."""
        return {"score": round(self.score, 4), "method": self.method, "pairs": [p.as_dict() for p in self.pairs],
                "query_only": list(self.query_only), "entry_only": list(self.entry_only)}


def _pair(a: str, b: str, pa: str, pb: str) -> tuple[float, str] | None:
    """How two tokens agree, or None when they are different words."""
    if a == b:
        return 1.0, "exact"
    if len(a) == 1 or len(b) == 1:
        short, long_ = (a, b) if len(a) == 1 else (b, a)
        return (INITIAL_SIM, "initial") if long_.startswith(short) and len(long_) > 1 else None
    if pa == pb and len(a) > 2 and len(b) > 2:
        # Same metaphone key: half the remaining distance is forgiven (Jonson / Johnson), not all,
        # since short keys are shared by unrelated names (Stella / Saidullah are both STL).
        return (1 + OSA.normalized_similarity(a, b)) / 2, "phonetic"
    if a.isdigit() or b.isdigit():
        return None  # numbers (fund series, brigade numbers) must agree exactly
    sim = OSA.normalized_similarity(a, b)
    return (sim, "fuzzy") if sim >= MIN_TOKEN_SIM else None


def align(q: NameForm, e: NameForm) -> list[tuple[int, int, float, str]]:
    """Greedy one-to-one alignment of tokens, best pairs first: (i, j, similarity, how)."""
    candidates = []
    for i, (a, pa) in enumerate(zip(q.tokens, q.phonetics)):
        for j, (b, pb) in enumerate(zip(e.tokens, e.phonetics)):
            if a != b and pa != pb and len(a) > 1 and len(b) > 1 and \
                    not OSA.normalized_similarity(a, b, score_cutoff=_CUTOFF):
                continue  # the common case, decided without building anything
            if (found := _pair(a, b, pa, pb)) is not None:
                # Ties go to the longer tokens, which say more about identity.
                candidates.append((found[0], len(a) + len(b), i, j, found[1]))
    if len(candidates) > 1:
        candidates.sort(reverse=True)
    used_q, used_e, out = set(), set(), []
    for sim, _, i, j, how in candidates:
        if i not in used_q and j not in used_e:
            used_q.add(i)
            used_e.add(j)
            out.append((i, j, sim, how))
    return out


def _content(tokens) -> int:
    # An initial counts: one left unmatched is a name the other side does not have ("Hans O" / "Hans Joachim").
    # Numbers do not: series and branch numbers differ between records of one fund or vessel.
    return sum(1 for t in tokens if t not in PARTICLES and not t.isdigit())


def token_score(q: NameForm, e: NameForm) -> NameScore:
    """Score from the token alignment alone."""
    aligned = align(q, e)
    if not aligned:
        return NameScore(0.0, (), q.tokens, e.tokens)
    wq, we = q.weights, e.weights
    matched_q = {a[0] for a in aligned}
    matched_e = {a[1] for a in aligned}
    pair_weight = sum((wq[i] + we[j]) / 2 for i, j, _, _ in aligned)
    pair_score = sum(sim * (wq[i] + we[j]) / 2 for i, j, sim, _ in aligned)
    q_only = [q.tokens[k] for k in range(len(wq)) if k not in matched_q]
    e_only = [e.tokens[k] for k in range(len(we)) if k not in matched_e]
    uq = sum(wq[k] for k in range(len(wq)) if k not in matched_q)
    ue = sum(we[k] for k in range(len(we)) if k not in matched_e)
    q_conflict, e_conflict = _content(q_only), _content(e_only)
    if q_conflict and e_conflict:
        # Each side keeps a word the other cannot explain: most likely another person.
        score = pair_score / (pair_weight + max(uq, ue)) - CONFLICT_PENALTY
    else:
        # Unmatched particles (bin / ibn, al / el) on both sides are spelling, not identity.
        extra = uq + ue
        score = pair_score / pair_weight - EXTRA_PENALTY * extra / max(sum(wq), sum(we))
        covered = e.tokens if q_conflict else q.tokens
        if extra and _content(covered) < 2:
            score -= LONE_TOKEN_PENALTY
    pairs = tuple(TokenPair(q.tokens[i], e.tokens[j], sim, how) for i, j, sim, how in aligned)
    return NameScore(max(0.0, min(1.0, score)), pairs, tuple(q_only), tuple(e_only))


def _sorted(form: NameForm) -> NameForm:
    return NameForm(form.original, tuple(sorted(form.tokens)), tuple(sorted(form.legal_forms)))


def compare_names(query: NameForm, entry: NameForm) -> NameScore:
    """Similarity of two normalized names, with the explanation of which parts matched how."""
    if not query.tokens or not entry.tokens:
        return NameScore(0.0)
    result = token_score(query, entry)
    # Only a differing word count hints at merged or split words.
    if len(query.tokens) + len(query.legal_forms) != len(entry.tokens) + len(entry.legal_forms) and result.score < 1:
        # Legal forms take part here so that "SiemensAG" still meets "Siemens AG"; both the written
        # and the sorted word order are tried, since merging changes the word count and so the order.
        joined = max(OSA.normalized_similarity("".join(a.tokens + a.legal_forms), "".join(b.tokens + b.legal_forms))
                     for a, b in ((query, entry), (_sorted(query), _sorted(entry))))
        if joined >= JOINED_MIN and joined > result.score:
            result = NameScore(joined, (TokenPair(" ".join(query.tokens), " ".join(entry.tokens), joined, "joined"),),
                               method="joined")
    return result
