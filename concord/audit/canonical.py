"""RFC 8785 canonical JSON of audit entries: an exact fast path for the usual shape, the rfc8785 library otherwise."""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import encode_basestring

import rfc8785

_SAFE_INT = 2**53  # RFC 8785 numbers are IEEE doubles: larger integers have no exact form
_STR_OR_NONE = frozenset({str, type(None)})
# The entry's keys in RFC 8785 order: four columns, the time, the optional detail, four columns, the position.
_HEAD = '{"action":%s,"actor":%s,"agency":%s,"agreement":%s,"at":"'
_MID = ',"outcome":%s,"owner":%s,"purpose":%s,"request_id":'
_END = '%s,"resource":%s,"seq":%d}'


def _plain(value) -> bool:
    """True when json.dumps renders value byte for byte as RFC 8785 does: no floats, ASCII keys, safe ints."""
    t = type(value)
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return -_SAFE_INT < value < _SAFE_INT
    if t is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in value.items())
    if t is list:
        return all(_plain(v) for v in value)
    return False


def canonical_json(value) -> bytes:
    """RFC 8785 canonical JSON; the C json encoder where it provably agrees, else rfc8785."""
    if _plain(value):
        try:
            return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        except UnicodeEncodeError:  # a lone surrogate: leave the verdict to rfc8785
            pass
    return rfc8785.dumps(value)


def _q(value: str | None) -> str:
    # encode_basestring escapes exactly what RFC 8785 escapes: '"', '\\' and control characters, lowercase hex.
    return "null" if value is None else encode_basestring(value)


def frame_head(action, actor, agency, agreement) -> str:
    """The canonical text before the time value."""
    return _HEAD % (_q(action), _q(actor), _q(agency), _q(agreement))


def frame_mid(outcome, owner, purpose) -> str:
    """The canonical text after the time (and any detail), up to the request id value."""
    return _MID % (_q(outcome), _q(owner), _q(purpose))


def frame_end(request_id, resource, seq: int) -> str:
    """The canonical text from the request id value to the end."""
    return _END % (_q(request_id), _q(resource), seq)


def entry_frame(seq: int, action, actor, agency, agreement, outcome, owner, purpose, request_id,
                resource) -> tuple[str, str]:
    """The canonical text up to the time value, and after it (and any detail): the columns in RFC 8785 key order."""
    return (frame_head(action, actor, agency, agreement),
            frame_mid(outcome, owner, purpose) + frame_end(request_id, resource, seq))


def canonical_entry(seq: int, at: datetime, note, request_id: str | None) -> bytes:
    """The entry as the leaf hash covers it: RFC 8785 JSON of the note, its position, time and request."""
    owner = getattr(note, "owner", None)
    values = (note.action, note.actor, note.agency, note.agreement, note.outcome, owner, note.purpose, request_id,
              note.resource)
    at_text = at.isoformat()
    if {type(v) for v in values} <= _STR_OR_NONE and type(seq) is int and 0 <= seq < _SAFE_INT \
            and (not note.detail or _plain(note.detail)):
        head, tail = entry_frame(seq, *values)
        detail = ',"detail":' + canonical_json(note.detail).decode() if note.detail else ""
        try:
            return (head + at_text + '"' + detail + tail).encode()
        except UnicodeEncodeError:  # a lone surrogate: leave the verdict to rfc8785
            pass
    entry = {"seq": seq, "at": at_text, "actor": note.actor, "agency": note.agency, "action": note.action,
             "resource": note.resource, "purpose": note.purpose, "agreement": note.agreement,
             "outcome": note.outcome, "owner": owner, "request_id": request_id}
    if note.detail:
        entry["detail"] = note.detail
    return rfc8785.dumps(entry)
