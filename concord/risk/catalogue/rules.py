"""Officer-written rules in CEL: compiled and checked with error positions, evaluated over a declaration."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import cel

from concord.errors import InvalidDocument, Problem
from concord.observability.metrics import METRICS
from concord.risk.catalogue.history import empty_history, empty_item_history
from concord.routing.criteria import Rates

log = logging.getLogger(__name__)

VARIABLES = ("declaration", "items", "importer", "exporter", "declarant", "transport", "route", "history")


def _item(item: dict, rates) -> dict:
    value = item["value"]
    base = rates.to_base(value["amount"], value["currency"]) if rates is not None else None
    # CEL does not compare strings with numbers: amounts become doubles, and the base-currency value is added.
    return {**item, "quantity": float(item["quantity"]), "net_mass_kg": float(item["net_mass_kg"]),
            "value": {"amount": float(value["amount"]), "currency": value["currency"]},
            "value_base": None if base is None else float(base),
            "document_types": [d["type"] for d in item.get("documents") or ()]}


def _prune(value, keys: frozenset):
    if isinstance(value, dict):
        return {k: _prune(v, keys) for k, v in value.items() if k in keys}
    if isinstance(value, list):
        return [_prune(v, keys) for v in value]
    return value


def base_values(doc: dict, rates) -> list:
    """Each item's value in the base currency (None where no rate is known)."""
    return [None if rates is None else rates.to_base(i["value"]["amount"], i["value"]["currency"])
            for i in doc["items"]]


def activation(doc: dict, rates=None, variables=VARIABLES, keys: frozenset | None = None,
               history: tuple | None = None) -> dict:
    """The names a rule sees; only `variables`, and only the fields named in `keys` (None: all).

    `history` is (the declaration's, each item's) aggregates of earlier declarations (catalogue/history.py);
    None reads as nothing before."""
    items = [_item(i, rates) for i in doc["items"]]
    top, per_item = history or (empty_history(), [empty_item_history() for _ in items])
    for item, past in zip(items, per_item):
        item["history"] = past
    arrival = doc.get("arrival")
    view = {
        "declaration": {**doc, "items": items,
                        "arrival": datetime.fromisoformat(arrival) if isinstance(arrival, str) else arrival},
        "items": items, "importer": doc["importer"], "exporter": doc["exporter"], "declarant": doc["declarant"],
        "transport": doc["transport"],
        "route": {"from": doc["exporter"]["country"], "entry": doc["office_of_entry"],
                  "entry_country": doc["office_of_entry"][:2], "destination": doc.get("destination_country"),
                  "origins": sorted({i["origin"] for i in doc["items"]}), "mode": doc["transport"]["mode"]},
        "history": top,
    }
    if keys is None:
        return {v: view[v] for v in variables}
    return {v: _prune(view[v], keys) for v in variables}


def sample_declaration() -> dict:
    """A declaration with every field filled, to check rules against before they are stored."""
    party = {"id": "NL000000001", "name": "Sample Trading BV", "country": "NL", "address": "Sample Street 1, Rotterdam"}
    return {"lrn": "SAMPLE", "type": "IM", "declarant": party, "importer": party,
            "exporter": {**party, "country": "CN"}, "office_of_entry": "NLRTM", "destination_country": "NL",
            "transport": {"mode": "sea", "conveyance": "IMO9074729", "containers": ["MSCU1234566"]},
            "arrival": "2026-01-07T08:00:00+00:00",
            "items": [{"hs_code": "610910", "description": "T-shirts", "origin": "CN", "quantity": "10", "unit": "NAR",
                       "net_mass_kg": "2", "value": {"amount": "100.00", "currency": "EUR"},
                       "documents": [{"type": "N935", "reference": "INV-1"}]}]}

MAX_LENGTH = 4000
_PARSE_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_MACRO_VARIABLE = re.compile(r"\b(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_WORD = re.compile(r"[A-Za-z_]\w*")
# An index that is not a literal could compute a key, which would defeat pruning the activation.
_INDEX = re.compile(r"\[([^\[\]]*)\]")
_LITERAL_INDEX = re.compile(r"""^\s*(\d+|"[^"]*"|'[^']*')\s*$""")
_STRING = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'""")
_SELECT = re.compile(r"\.\s*([A-Za-z_]\w*)\b(?!\s*\()")
FUNCTIONS = frozenset((
    "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double", "string", "bytes", "timestamp",
    "duration", "type", "dyn", "getFullYear", "getMonth", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getDate",
    "getHours", "getMinutes", "getSeconds", "getMilliseconds"))


def _invalid(source: str, message: str, offset: int | None = None) -> InvalidDocument:
    where = ""
    if offset is not None:
        line = source.count("\n", 0, offset) + 1
        column = offset - (source.rfind("\n", 0, offset) + 1) + 1
        where = f"line {line}, column {column}: "
    return InvalidDocument("the rule expression is not valid; nothing was stored",
                           [Problem("/expression", where + message)])


def _offset_of(source: str, name: str, *, field: bool) -> int | None:
    """Where a name first appears as a field (after a dot) or as a free identifier (not after a dot)."""
    pattern = rf"\.\s*{re.escape(name)}\b" if field else rf"(?<![.\w]){re.escape(name)}\b"
    m = re.search(pattern, source)
    return None if m is None else m.start() + (1 if field else 0)


def compile_rule(source: str) -> cel.Program:
    """Compile and check a rule expression; InvalidDocument with line and column when it is not a valid rule."""
    if not source or not source.strip():
        raise _invalid(source, "the expression is empty; write a condition such as transport.mode == \"sea\"")
    if len(source) > MAX_LENGTH:
        raise _invalid(source, f"the expression is longer than {MAX_LENGTH} characters; split it into several rules")
    try:
        program = cel.compile(source)
    except ValueError as e:
        m = _PARSE_ERROR.search(str(e))
        if m is None:
            raise _invalid(source, str(e)) from None
        line, column, message = int(m.group(1)), int(m.group(2)), m.group(3)
        offset = sum(len(x) + 1 for x in source.split("\n")[:line - 1]) + column - 1
        raise _invalid(source, message, offset) from None
    bound = set(_MACRO_VARIABLE.findall(source))
    for name in program.variables():
        if name not in VARIABLES and name not in bound:
            raise _invalid(source, f"unknown name '{name}'; a rule can use {', '.join(VARIABLES)}",
                           _offset_of(source, name, field=False))
    _check_names(source, program)
    _check_comparisons(source)
    _check_on_sample(source, program)
    return program


_LITERAL = r"""("[^"]*"|'[^']*'|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?u?|true|false|null)"""
_PATH = r"[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)+"
_COMPARISONS = (re.compile(rf"({_PATH})\s*(==|!=|<=|>=|<|>)\s*{_LITERAL}"),
                re.compile(rf"{_LITERAL}\s*(==|!=|<=|>=|<|>)\s*({_PATH})"))


def _kind(value) -> str | None:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, datetime):
        return "a timestamp"
    return None


def _field_kinds(value, out: dict) -> dict:
    """Field name -> the kind of value it holds in the sample declaration."""
    if isinstance(value, dict):
        for k, v in value.items():
            if (kind := _kind(v)) is not None:
                out.setdefault(k, kind)
            _field_kinds(v, out)
    elif isinstance(value, list):
        for v in value:
            _field_kinds(v, out)
    return out


def _literal_kind(literal: str) -> str | None:
    if literal[0] in "\"'":
        return "a string"
    if literal in ("true", "false"):
        return "a boolean"
    return None if literal == "null" else "a number"


def _check_comparisons(source: str) -> None:
    """A field compared with a literal of another type: CEL answers false (never an error), so the rule would
    silently match nothing; refuse it. `i.origin == 5` is the classic case."""
    kinds = _field_kinds(activation(sample_declaration(), Rates("EUR", {})), {})
    # String contents are hidden (offsets kept), so an operator inside a literal is not taken for one.
    blank = _STRING.sub(lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[0], source)
    for pattern, path_at, literal_at in ((_COMPARISONS[0], 1, 3), (_COMPARISONS[1], 3, 1)):
        for m in pattern.finditer(blank):
            name = re.split(r"\s*\.\s*", m.group(path_at))[-1]
            field_kind, literal_kind = kinds.get(name), _literal_kind(m.group(literal_at))
            if field_kind and literal_kind and field_kind != literal_kind:
                literal = source[m.start(literal_at):m.end(literal_at)]
                hint = {"a string": f'quote it: "{literal.strip(chr(34) + chr(39))}"',
                        "a number": "compare with a number, or convert: double(x)",
                        "a timestamp": 'write timestamp("2026-01-01T00:00:00Z")',
                        "a boolean": "compare with true or false"}[field_kind]
                raise _invalid(source, f"type error: '{name}' is {field_kind}, compared with {literal_kind} "
                                       f"({literal}), which never matches; {hint}", m.start())


def _fields(value) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_fields(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_fields(v) for v in value))
    return set()


def _check_names(source: str, program: cel.Program) -> None:
    """Every function and field a rule names must exist, even in a branch the sample would not reach."""
    blank = _STRING.sub(lambda m: " " * len(m.group()), source)  # keep offsets, hide the literals' contents
    for name in program.functions():
        if name[0] not in "_@!" and name not in FUNCTIONS:
            m = re.search(rf"\b{re.escape(name)}\s*\(", blank)
            raise _invalid(source, f"unknown function '{name}'", m.start() if m else None)
    known = _fields(activation(sample_declaration(), Rates("EUR", {})))
    for m in _SELECT.finditer(blank):
        if m.group(1) not in known:
            raise _invalid(source, f"unknown field '{m.group(1)}'", m.start(1))


def _check_on_sample(source: str, program: cel.Program) -> None:
    """Run the rule on a complete sample declaration: unknown fields, unknown functions and type errors show here."""
    try:
        result = program.execute(cel.Context(activation(sample_declaration(), Rates("EUR", {}))))
    except KeyError as e:
        name = str(e.args[0]) if e.args else "?"
        raise _invalid(source, f"unknown field '{name}'", _offset_of(source, name, field=True)) from None
    except RuntimeError as e:
        m = re.search(r"Undefined variable or function: '([^']+)'", str(e))
        name = m.group(1) if m else None
        message = f"unknown function '{name}' or a function applied to the wrong type" if name else str(e)
        offset = None
        if name:
            offset = _offset_of(source, name, field=False)
            offset = _offset_of(source, name, field=True) if offset is None else offset
        raise _invalid(source, message, offset) from None
    except (TypeError, ValueError) as e:
        raise _invalid(source, f"type error: {str(e).split('. ')[0]}; convert explicitly, e.g. double(x)") from None
    except Exception as e:  # noqa: BLE001 - division by zero, overflow, an index past the items, ...
        # failing on this complete declaration, it would fail on every one like it: the live step counts that as
        # an error and the rule never hits, so it is refused here rather than stored
        reason = str(e).removesuffix(" in CEL expression").removesuffix(".")
        hint = ("; the sample has one item: guard an index, e.g. size(items) > 1 && items[1].origin == \"CN\", "
                "or use items.exists(i, ...)" if isinstance(e, IndexError) else "")
        raise _invalid(source, f"the rule's expression fails on the sample declaration: {reason}; a rule must give "
                               f"true or false on every declaration{hint}") from None
    if not isinstance(result, bool):
        raise _invalid(source, f"a rule must be a condition (true or false), this one gives {type(result).__name__}")


@dataclass(frozen=True)
class CompiledRule:
    id: str
    version: int
    name: str
    agency: str
    severity: str
    lane: str
    valid_from: datetime
    valid_until: datetime | None
    program: cel.Program
    source: str

    def valid_at(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_until is None or now < self.valid_until)


def _prunable_keys(sources: list[str]) -> frozenset | None:
    """Every word the rules mention: activation keys outside it cannot be read, so they need not be converted."""
    words: set[str] = set()
    for source in sources:
        if any(not _LITERAL_INDEX.match(i) for i in _INDEX.findall(source)):
            return None
        words.update(_WORD.findall(source))
        words.update(re.findall(r"""["']([^"']*)["']""", source))
    return frozenset(words)


class RuleSet:
    """The active rules of one rules version, compiled once; evaluation shares one activation per declaration."""

    def __init__(self, rules: list[CompiledRule], version: int, *, live: bool = True):
        self.rules, self.version, self.live = rules, version, live
        self.variables = frozenset(v for r in rules for v in r.program.variables() if v in VARIABLES)
        self.keys = _prunable_keys([r.source for r in rules])
        self.errors: Counter = Counter()  # (rule id, version) -> evaluations that failed at run time
        self.first_error: dict = {}  # (rule id, version) -> (declaration id, what failed), the first time
        # a rule naming `history` (the variable or an item's field) needs the store's aggregates
        self.reads_history = any("history" in _WORD.findall(_STRING.sub("", r.source)) for r in rules)

    @classmethod
    def from_rows(cls, rows, version: int) -> RuleSet:
        """Compile stored rule rows (already checked when they were created)."""
        rules = []
        for r in rows:
            try:
                program = cel.compile(r.expression)
            except ValueError:  # stored before a library change tightened the grammar: skip, do not stop lodging
                log.error("risk rule %s v%s no longer compiles; skipped", r.id, r.version)
                continue
            rules.append(CompiledRule(r.id, r.version, r.name, r.agency, r.severity, r.lane, r.valid_from,
                                      r.valid_until, program, r.expression))
        return cls(rules, version)

    def evaluate(self, doc: dict, rates=None, now: datetime | None = None, history=None,
                 declaration_id: str | None = None) -> list[CompiledRule]:
        """The rules valid at `now` that hold for the declaration; `history` (a DeclarationHistory) answers
        what rules read of the declarations before `now` (None: nothing before)."""
        live = [r for r in self.rules if now is None or r.valid_at(now)]
        if not live:
            return []
        past = None
        if self.reads_history and history is not None and now is not None:
            past = history.aggregates(doc, now, declaration_id)
        context = cel.Context(activation(doc, rates, self.variables, self.keys, past))
        hits = []
        for rule in live:
            try:
                if rule.program.execute(context) is True:
                    hits.append(rule)
            except Exception as e:  # noqa: BLE001 - a field absent from this declaration: the rule does not hit
                key = (rule.id, rule.version)
                self.errors[key] += 1
                if self.live:  # a rule failing on every declaration is a rule that never hits: operators alert on it
                    METRICS.inc("concord_rule_evaluation_errors_total")
                if key not in self.first_error:
                    self.first_error[key] = (declaration_id, f"{type(e).__name__}: {e}")
                    if self.live:  # once per rule version: the risk unit learns its rule misses some declarations
                        log.warning("risk rule %s v%s could not be evaluated on declaration %s (%s): it does not hit "
                                    "such declarations; guard the expression", rule.id, rule.version,
                                    declaration_id, self.first_error[key][1])
        return hits
