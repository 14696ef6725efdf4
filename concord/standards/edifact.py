"""UN/EDIFACT at the edge: a CUSDEC interchange in, one CUSRES per message out, CONTRL for syntax errors.

The syntax (service characters, release character `?`, segments and composites) is pydifact's; the envelope
checks are ours: UNB first and UNZ last with the same reference (0020) and the count of messages (0036), each
UNH closed by a UNT with the same reference (0062) and the count of its segments (0074). A fault of the
interchange's envelope rejects it whole (CONTRL, nothing lodged); a fault of one message's envelope rejects that
message (in the CONTRL) and no other. Each readable message goes through cusdec.to_document and the
declaration's model, then into the same lodging as the JSON path (lodge_isolated): validation, routing, risk
and the audit are the same. Nothing of a faulty message is stored.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from pydifact.exceptions import EDISyntaxError, MissingImplementationWarning
from pydifact.parser import Parser
from pydifact.segments import Segment

from concord.errors import ConcordError, InvalidDocument, Problem
from concord.standards import cusdec

MAX_INTERCHANGE_BYTES = 8 << 20  # ~1,000 messages of a few items each
MAX_MESSAGES = 1000  # as many as an NDJSON upload (declarations.grouping.MAX_BATCH)
VERSIONS = ("96B", "21A")  # directories the converter was written from (the layout is the same in both)
# Syntax identifiers and the character sets they name (UNOA/UNOB are subsets of ASCII; UNOC Latin-1; UNOW UTF-8).
CHARSETS = {"UNOA": "ascii", "UNOB": "ascii", "UNOC": "latin-1", "UNOD": "iso8859-2", "UNOE": "iso8859-5",
            "UNOF": "iso8859-7", "UNOW": "utf-8", "UNOY": "utf-8"}
CHARACTERS = ":+.? '"  # component, element, decimal mark, release, repetition (reserved), segment terminator
ONE_MESSAGE = b"UNH+"


@dataclass
class SyntaxFault:
    """A CONTRL entry: the message (or None for the interchange), the segment position, the error code, what."""

    message: str | None
    code: str  # 0085: 12 invalid value, 13 missing, 18 unspecified, 21 invalid character, 28 references do not
    # match, 29 control count does not match, 35 too many repetitions
    text: str
    position: int | None = None


@dataclass
class MessageResult:
    reference: str
    lrn: str | None = None
    id: str | None = None
    replayed: bool = False
    error: ConcordError | None = None
    places: list = field(default_factory=list)  # (Problem, cusdec.Place) for each fault


@dataclass
class Answer:
    """What came of an interchange: rejected whole (faults, no messages) or message by message."""

    reference: str
    sender: str
    recipient: str
    faults: list[SyntaxFault]
    messages: list[MessageResult]

    @property
    def rejected(self) -> bool:
        return any(f.message is None for f in self.faults)


class InterchangeRejected(InvalidDocument):
    """The interchange cannot be read (syntax or envelope): nothing was lodged; the CONTRL says why."""

    def __init__(self, answer: Answer):
        super().__init__("the interchange was rejected; nothing was stored", [
            Problem("", f"{f.text} (EDIFACT error {f.code})") for f in answer.faults])
        self.answer = answer


def decode(body: bytes) -> str:
    """The interchange's text in the character set its syntax identifier names (UNB S001/0001)."""
    head = body[:200].lstrip(b"\xef\xbb\xbf")
    separator = head[4:5] if head.startswith(b"UNA") else b"+"  # the UNA may name other service characters
    start = head.find(b"UNB" + separator)
    if start < 0:
        raise _rejected("an interchange starts with UNB (after an optional UNA); none was found", "13")
    syntax = head[start + 4:start + 8].decode("ascii", "replace")
    if syntax not in CHARSETS:
        raise _rejected(f"syntax identifier {syntax!r} is not one Concord reads: send UNOA, UNOB, UNOC or UNOW", "12")
    try:
        return body.lstrip(b"\xef\xbb\xbf").decode(CHARSETS[syntax])
    except UnicodeDecodeError as e:
        raise _rejected(f"byte 0x{e.object[e.start]:02x} at offset {e.start} is not {syntax} "
                        f"({CHARSETS[syntax]}); declare the character set the file is in", "21") from None


def _rejected(text: str, code: str, reference: str = "", sender: str = "", recipient: str = "") -> InterchangeRejected:
    return InterchangeRejected(Answer(reference, sender, recipient, [SyntaxFault(None, code, text)], []))


def parse(text: str) -> tuple[Answer, list[tuple[str, list[Segment]]]]:
    """Check the interchange's envelope; return the answer so far and each readable message's inner segments."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingImplementationWarning)
            segments = [s for s in Parser().parse(text) if s.tag != "UNA"]
    except (EDISyntaxError, ValueError, IndexError, AttributeError, TypeError) as e:
        raise _rejected(f"the interchange cannot be read: {str(e).removeprefix('EDIFACT Syntax Error: ')}", "18") \
            from None
    if not segments or segments[0].tag != "UNB":
        raise _rejected("an interchange starts with UNB (after an optional UNA)", "13")
    unb = segments[0]
    reference, sender, recipient = (cusdec.component(unb, 4), cusdec.component(unb, 1),
                                    cusdec.component(unb, 2))
    if not reference:
        raise _rejected("UNB has no interchange control reference (0020)", "13", "", sender, recipient)
    if segments[-1].tag != "UNZ":
        raise _rejected("the interchange does not end with UNZ: it may be truncated", "13", reference, sender,
                        recipient)
    unz, body = segments[-1], segments[1:-1]
    answer = Answer(reference, sender, recipient, [], [])
    if cusdec.component(unz, 1) != reference:
        answer.faults.append(SyntaxFault(None, "28", f"UNZ's reference {cusdec.component(unz, 1)!r} is not UNB's "
                                         f"{reference!r}", len(segments)))
    count = sum(1 for s in body if s.tag == "UNH")
    if cusdec.component(unz, 0) != str(count):
        answer.faults.append(SyntaxFault(None, "29", f"UNZ counts {cusdec.component(unz, 0)!r} messages; the "
                                         f"interchange has {count}", len(segments)))
    if count > MAX_MESSAGES:
        answer.faults.append(SyntaxFault(None, "35", f"{count} messages: send at most {MAX_MESSAGES} per interchange"))
    if count == 0:
        answer.faults.append(SyntaxFault(None, "13", "the interchange has no message (UNH ... UNT)"))
    if answer.rejected:
        raise InterchangeRejected(answer)
    return answer, _messages(answer, body)


def _messages(answer: Answer, body: list[Segment]) -> list[tuple[str, list[Segment]]]:
    out, current, unh = [], None, None
    for s in body:
        if s.tag == "UNH":
            if current is not None:
                answer.faults.append(SyntaxFault(_ref(unh), "13", "UNH without its UNT before the next UNH"))
            unh, current = s, []
        elif s.tag == "UNT":
            if current is None:
                answer.faults.append(SyntaxFault(None, "13", "UNT without a UNH"))
                raise InterchangeRejected(answer)
            if (fault := _envelope_fault(unh, s, len(current) + 2)) is not None:
                answer.faults.append(fault)
            else:
                out.append((_ref(unh), current))
            current = None
        elif current is None:
            answer.faults.append(SyntaxFault(None, "13", f"segment {s.tag} outside a message (UNH ... UNT)"))
            raise InterchangeRejected(answer)
        else:
            current.append(s)
    if current is not None:
        answer.faults.append(SyntaxFault(_ref(unh), "13", "the last UNH has no UNT: the message may be truncated"))
    return out


def _ref(unh: Segment) -> str:
    return cusdec.component(unh, 0)


def _envelope_fault(unh: Segment, unt: Segment, segments: int) -> SyntaxFault | None:
    ref, kind = _ref(unh), unh.elements[1] if len(unh.elements) > 1 else ""
    kind = kind if isinstance(kind, list) else [kind]
    if not ref:
        return SyntaxFault("", "13", "UNH has no message reference (0062)", 1)
    if cusdec.component(unt, 1) != ref:
        return SyntaxFault(ref, "28", f"UNT's reference {cusdec.component(unt, 1)!r} is not UNH's {ref!r}", segments)
    if cusdec.component(unt, 0) != str(segments):
        return SyntaxFault(ref, "29", f"UNT counts {cusdec.component(unt, 0)!r} segments; the message has "
                           f"{segments} (UNH and UNT included)", segments)
    if kind[:2] != ["CUSDEC", "D"] or len(kind) < 4 or kind[3] != "UN":
        return SyntaxFault(ref, "12", f"message type {':'.join(kind)!r}: Concord reads CUSDEC:D:<release>:UN", 1)
    if kind[2] not in VERSIONS:
        return SyntaxFault(ref, "12", f"directory D.{kind[2]}: Concord reads D.96B and D.21A", 1)
    return None


def lodge_interchange(bus, subject, body: bytes) -> Answer:
    """Read a CUSDEC interchange and lodge each of its messages alone; raise InterchangeRejected if unreadable."""
    from concord.declarations.grouping import lodge_isolated
    from concord.declarations.schemas import parse_declaration

    answer, messages = parse(decode(body))
    ready: list[tuple[MessageResult, dict, cusdec.Reading]] = []
    for reference, segments in messages:
        reading = cusdec.to_document(segments)
        result = MessageResult(reference, lrn=reading.document.get("lrn"))
        answer.messages.append(result)
        problems = [(Problem(f.pointer, f.message), f.place) for f in reading.faults]
        try:
            document = parse_declaration(reading.document).model_dump(mode="json")
        except InvalidDocument as e:
            problems += [(p, reading.place_of(p.pointer)) for p in e.problems
                         if not any(f.pointer == p.pointer for f in reading.faults)]
        if problems:
            result.error = InvalidDocument("the message has faults; nothing was stored", [p for p, _ in problems])
            result.places = problems
        else:
            ready.append((result, document, reading))
    if ready:
        for (result, _, reading), outcome in zip(ready, lodge_isolated(bus, [(subject, d, None) for _, d, _ in ready])):
            if isinstance(outcome, ConcordError):
                result.error = outcome
                result.places = [(p, reading.place_of(p.pointer)) for p in outcome.problems]
            elif isinstance(outcome, BaseException):
                result.error = ConcordError("an unexpected error on our side; send the message again")
                result.error.status, result.error.code = 500, "internal"
            else:
                result.id, result.replayed = outcome["id"], outcome["replayed"]
    return answer
