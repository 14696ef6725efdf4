"""EDIFACT answers: one CUSRES per CUSDEC message, a CONTRL for syntax faults, in one interchange back to the sender.

Also a status change as a CUSRES for the trader, and the same answer as JSON in the error tree's form."""

from __future__ import annotations

from datetime import datetime, timezone

from pydifact.control import Characters
from pydifact.segments import Segment
from pydifact.serializer import Serializer

from concord.errors import Problem
from concord.ids import new_id
from concord.standards.edifact import CHARACTERS, Answer, MessageResult

def _serialize(segments: list[Segment]) -> str:
    return Serializer(Characters.from_str(CHARACTERS)).serialize(segments, with_una_header=True)


def _envelope(answer_ref: str, sender: str, recipient: str, messages: list[tuple[list, list[Segment]]],
              now: datetime) -> str:
    segments = [Segment("UNB", ["UNOW", "4"], sender or "CONCORD", recipient or "UNKNOWN",
                        [now.strftime("%Y%m%d"), now.strftime("%H%M")], answer_ref)]
    for n, (kind, inner) in enumerate(messages, 1):
        segments += [Segment("UNH", str(n), kind), *inner, Segment("UNT", str(len(inner) + 2), str(n))]
    segments.append(Segment("UNZ", str(len(messages)), answer_ref))
    return _serialize(segments)


CUSRES = ["CUSRES", "D", "96B", "UN"]
CONTRL = ["CONTRL", "D", "3", "UN"]


def contrl(answer: Answer) -> tuple[list, list[Segment]]:
    """The CONTRL message (kind and inner segments) for the interchange's syntax faults."""
    rejected = answer.rejected
    out = [Segment("UCI", answer.reference, answer.recipient or "", answer.sender or "",
                                     "4" if rejected else "7")]
    for f in answer.faults:
        if f.message is None:
            out.append(Segment("UCS", str(f.position or 0), f.code))
            out.append(Segment("FTX", "AAO", "", "", _text_parts(f.text)))
    for f in answer.faults:
        if f.message is not None:
            out += [Segment("UCM", f.message, ["CUSDEC", "D", "96B", "UN"], "4", f.code),
                    Segment("UCS", str(f.position or 0), f.code),
                    Segment("FTX", "AAO", "", "", _text_parts(f.text))]
    return CONTRL, out


def _text_parts(text: str) -> list[str]:
    return [text[i:i + 70] for i in range(0, min(len(text), 350), 70)]


def cusres(result: MessageResult) -> tuple[list, list[Segment]]:
    """The CUSRES message for one CUSDEC message: acceptance with Concord's id, or each fault where it sits."""
    if result.error is None:
        return CUSRES, [Segment("BGM", "962", result.id, "29"), Segment("RFF", ["ABE", result.lrn or ""]),
                        Segment("RFF", ["ABT", result.id])]
    out = [Segment("BGM", "962", result.lrn or result.reference, "27"),
           Segment("RFF", ["ABE", result.lrn or ""])]
    places = result.places or [(Problem("", result.error.message), None)]
    for problem, place in places:
        missing = "required" in problem.message or "missing" in problem.message
        out.append(Segment("ERP", "", [place.segment.split("+")[0], str(place.position)] if place else ""))
        out.append(Segment("ERC", "13" if missing else "12"))
        where = f"{place.segment} {place.element}".strip() if place else ""
        out.append(Segment("FTX", "AAO", "", "", _text_parts(f"{where}: {problem.message}" if where else
                                                              problem.message)))
    return CUSRES, out


def render(answer: Answer, now: datetime | None = None) -> str:
    """The interchange Concord sends back: a CONTRL if anything failed the syntax, then one CUSRES per message."""
    now = now or datetime.now(timezone.utc)
    messages = ([contrl(answer)] if answer.faults else []) + [cusres(m) for m in answer.messages]
    return _envelope(new_id("EDI")[-14:], answer.recipient, answer.sender, messages, now)


def status_cusres(declaration_id: str, lrn: str, status: str, reason: str | None = None,
                  now: datetime | None = None, recipient: str = "TRADER") -> str:
    """A status change (released, refused, documents_requested...) as a CUSRES interchange for the trader.

    Ready for the webhook delivery of the alerts lane: it only renders. The status travels in GIS as Concord's
    word under code list ZZZ (mutually defined) until the administration's implementation guide fixes the codes."""
    inner = [Segment("BGM", "962", declaration_id, "29" if status != "refused" else "27"),
             Segment("RFF", ["ABE", lrn]), Segment("RFF", ["ABT", declaration_id]),
             Segment("GIS", [status, "ZZZ"])]
    if reason:
        inner.append(Segment("FTX", "AAO", "", "", _text_parts(reason)))
    return _envelope(new_id("EDI")[-14:], "CONCORD", recipient, [(CUSRES, inner)], now or datetime.now(timezone.utc))


def as_json(answer: Answer) -> dict:
    """The same answer in the error tree's form: each message's id, or its faults with pointer and segment."""
    messages = []
    for m in answer.messages:
        if m.error is None:
            messages.append({"message": m.reference, "lrn": m.lrn, "id": m.id, "replayed": m.replayed})
            continue
        body = m.error.as_dict()
        if m.places:
            body["error"]["problems"] = [p.as_dict() | (place.as_dict() if place else {}) for p, place in m.places]
        messages.append({"message": m.reference, "lrn": m.lrn} | body)
    return {"interchange": answer.reference,
            "lodged": sum(1 for m in answer.messages if m.id and not m.replayed),
            "replayed": sum(1 for m in answer.messages if m.replayed),
            "failed": sum(1 for m in answer.messages if m.error) + sum(1 for f in answer.faults if f.message),
            "syntax_faults": [{"message": f.message, "code": f.code, "text": f.text, "position": f.position}
                              for f in answer.faults],
            "messages": messages}
