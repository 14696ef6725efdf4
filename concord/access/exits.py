"""The exit rule: a read model is built whole, every field tagged with its class and owner, and cut in one pass.

A query builds what it would show the lead agency, wrapping every value in a `Field` that says what it is:

| class | what | who sees it |
|---|---|---|
| envelope | the record's id, status, version, times | whoever may see the record at all |
| document | a field of the declaration, or one that mirrors it (type, office, LRN) | where the view covers its pointer |
| party | who lodged it (the trader's id, the submitting user) | where the view covers `/declarant/id` |
| assessment | working data (risk, lanes, routing reasons) | its owner agency (default: the lead) and the lead |
| step | an agency's task and what happens on it | that agency and subjects with the whole record |
| reason | an agency's intelligence (watchlist, screening) | the owner; others per agreement, else hit/no-hit |
| outcome | an agency's decision, addressed to the trader | the owner, the lead, the trader; others per agreement |
| note | the trader's own words (why cancelled) | the trader and the lead |

`cut(model, lens)` walks the tree once. A value that is not inside a shown Field is a programming error
(`Unclassified`): nothing leaves unclassified. A field withheld from a dict leaves its name and the agency to ask
in the dict's `withheld` map; a withheld list item is replaced by its stub (hit / no-hit) or dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from concord.access.policy import Decision, Ref, authorize
from concord.access.redaction import redact

ENVELOPE, DOCUMENT, PARTY, ASSESSMENT, STEP, REASON, OUTCOME, NOTE, SCOPED = (
    "envelope", "document", "party", "assessment", "step", "reason", "outcome", "note", "scoped")
_DROP = object()
_PLAIN = frozenset({str, int, float, bool, type(None)})  # values a shown subtree passes as they are


class Unclassified(TypeError):
    """A read model carried a value without a class: a bug in the query that built it, never shown."""


class Field(NamedTuple):
    """A value with its class and owner. A named tuple, not a frozen dataclass: read models build thousands of
    these per second on the relay's path, and a frozen dataclass's __init__ (one object.__setattr__ per
    attribute) was the largest single cost of building them."""

    value: Any
    cls: str
    owner: str | None = None  # the agency whose data it is (None: the lead agency)
    pointer: str | None = None  # document/party: the document path it mirrors; reason/outcome: its path in `ref`
    ref: Ref | None = None  # the resource an agreement or grant names to share it with another agency
    stub: Any = _DROP  # what a subject who may not see it gets instead (hit / no-hit), if anything
    decision: Decision | None = None  # scoped: the decision that governs this subtree (one version)
    whole: bool = False  # document: the whole document, cut by the view


def envelope(value) -> Field:
    return Field(value, ENVELOPE)


def doc(value, pointer: str, stub=_DROP) -> Field:
    return Field(value, DOCUMENT, pointer=pointer, stub=stub)


def document(value) -> Field:
    return Field(value, DOCUMENT, pointer="/", whole=True)


def party(value) -> Field:
    return Field(value, PARTY, pointer="/declarant/id")


def assessment(value, owner: str | None = None) -> Field:
    return Field(value, ASSESSMENT, owner)


def step(value, agency: str) -> Field:
    return Field(value, STEP, agency)


def reason(value, owner: str, ref: Ref, stub) -> Field:
    return Field(value, REASON, owner, ref=ref, stub=stub)


def outcome(value, owner: str, ref: Ref | None = None, pointer: str | None = None) -> Field:
    return Field(value, OUTCOME, owner, pointer=pointer, ref=ref)


def note(value) -> Field:
    return Field(value, NOTE)


def scoped(value, decision: Decision) -> Field:
    return Field(value, SCOPED, decision=decision)


@dataclass
class Lens:
    """One subject's eyes on one record: the decision that let it in, and what it may see of others' data."""

    subject: Any
    decision: Decision
    lead: str | None
    session: Any = None
    purpose: str | None = None
    reads: list | None = None
    access: Any = None  # concord.access.context.AccessContext: what authorize reads besides the record
    _refs: dict = field(default_factory=dict)

    def with_decision(self, decision: Decision) -> Lens:
        return Lens(self.subject, decision, self.lead, self.session, self.purpose, self.reads, self.access, self._refs)

    @property
    def is_lead(self) -> bool:
        return self.decision.basis == "role:lead-agency"

    @property
    def is_owner(self) -> bool:
        return self.decision.basis == "owner"

    @property
    def whole(self) -> bool:
        return "/" in self.decision.view

    def covers(self, pointer: str) -> bool:
        return any(v in ("/", "", pointer) or pointer.startswith(v + "/") for v in self.decision.view)

    def shared(self, ref: Ref) -> Decision:
        """The owner's rule for another agency's resource, asked once per record; each answer noted for the owner."""
        key = (ref.type, ref.id, ref.provider)
        if key not in self._refs:
            found = authorize(self.subject, "read", ref, self.purpose, session=self.session, access=self.access)
            if self.reads is not None and found.basis != "own-agency":
                self.reads.append((f"{ref.type}/{ref.id}", found if found.allowed else Decision(
                    False, basis="hit", provider=ref.provider)))
            self._refs[key] = found
        return self._refs[key]


def cut(model, lens: Lens):
    """The model as the lens's subject may see it; raises Unclassified for any value without a class."""
    return _walk(model, lens, shown=False)


def may_see(f: Field, lens: Lens) -> bool:
    """Whether the lens's subject would see a field of this class and owner (asked before computing its value)."""
    return not isinstance(_field(f, lens), _Withheld)


def _walk(node, lens: Lens, shown: bool):
    if isinstance(node, Field):
        return _field(node, lens)
    if isinstance(node, dict):
        out, withheld = {}, {}
        for k, v in node.items():
            # The relay cuts every event for each audience: a plain value shown, or a field, without a call more.
            if (kind := type(v)) is Field:
                got = _field(v, lens)
            elif shown and kind in _PLAIN:
                out[k] = v
                continue
            else:
                got = _walk(v, lens, shown)
            if isinstance(got, _Withheld):
                if got.stub is not _DROP:
                    out[k] = got.stub
                elif got.ask is not None:
                    withheld[k] = got.ask
            else:
                out[k] = got
        if withheld:
            out["withheld"] = out.get("withheld", {}) | withheld
        return out
    if isinstance(node, (list, tuple)):
        out = []
        for v in node:
            got = _walk(v, lens, shown)
            if not isinstance(got, _Withheld):
                out.append(got)
            elif got.stub is not _DROP:
                out.append(got.stub)
        return out
    if not shown:
        raise Unclassified(f"a value of type {type(node).__name__} has no field class")
    return node


class _Withheld(NamedTuple):
    stub: Any = _DROP
    ask: str | None = None  # the agency to ask for it


def _field(f: Field, lens: Lens):
    if f.cls == ENVELOPE:  # most of an event's fields, shown to whoever may see the record
        return f.value if type(f.value) in _PLAIN else _walk(f.value, lens, True)
    show = lambda value=f.value: _walk(value, lens, True)  # noqa: E731 - nested Fields inside are cut too
    if f.cls == DOCUMENT:
        if f.whole:
            return redact(f.value, lens.decision.view)
        return show() if lens.covers(f.pointer) else _Withheld(f.stub)
    if f.cls == PARTY:
        return show() if lens.covers(f.pointer) else _Withheld(f.stub)
    if f.cls == SCOPED:
        return _walk(f.value, lens.with_decision(f.decision), False) if f.decision.allowed else _Withheld()
    owner = f.owner or lens.lead
    own = lens.subject.agency is not None and lens.subject.agency == owner
    if f.cls == ASSESSMENT:
        return show() if own or lens.is_lead else _Withheld()  # the lead coordinates: it sees every agency's
    if f.cls == STEP:
        return show() if own or lens.whole else _Withheld()
    if f.cls == NOTE:
        return show() if lens.is_owner or lens.is_lead else _Withheld(ask=lens.lead)
    if f.cls == OUTCOME and (own or lens.is_lead or lens.is_owner):
        return show()
    if f.cls == REASON and own:
        return show()
    if f.cls not in (OUTCOME, REASON):
        raise Unclassified(f"unknown field class {f.cls!r}")
    return _shared(f, lens, show, owner)


def _shared(f: Field, lens: Lens, show, owner: str):
    """Another agency's reason or outcome: the agreed fields under an agreement or grant, else hit / no-hit."""
    decision = lens.shared(f.ref) if f.ref is not None and lens.session is not None else Decision(False)
    if decision.allowed:
        if "/" in decision.view:
            return show()
        if f.pointer is not None:  # one field of the owner's record
            return show() if any(f.pointer == v or f.pointer.startswith(v + "/") for v in decision.view) \
                else _Withheld(f.stub, ask=owner)
        stub = f.stub if isinstance(f.stub, dict) else {}
        return show(redact(f.value, decision.view) | {k: v for k, v in f.value.items() if k in stub
                                                     and k not in ("hit", "how")})
    return _Withheld(f.stub, ask=owner)
