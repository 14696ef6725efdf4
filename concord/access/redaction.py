"""Cutting a document down to the view a decision allows."""

from __future__ import annotations

_MISSING = object()


def redact(doc, view: tuple[str, ...]):
    """Keep only the fields named by the view's JSON pointers ('*' matches every array element)."""
    if "/" in view or "" in view:
        return doc
    out: dict = {}
    for ptr in view:
        _copy(doc, out, [_unescape(p) for p in ptr.split("/")[1:]])
    return out


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _copy(src, dst, parts):
    head, rest = parts[0], parts[1:]
    if isinstance(src, list):
        indexes = range(len(src)) if head == "*" else [int(head)] if head.isdigit() and int(head) < len(src) else []
        for i in indexes:
            _copy_child(src[i], dst, i, rest)
        return
    if isinstance(src, dict) and head in src:
        _copy_child(src[head], dst, head, rest)


def _copy_child(value, dst, key, rest):
    if not rest:
        dst[key] = value
        return
    if isinstance(dst, dict) and key not in dst or isinstance(dst, list) and dst[key] is None:
        dst[key] = [_shell(v) for v in value] if isinstance(value, list) else {}
    _copy(value, dst[key], rest)


def _shell(value):
    """An empty stand-in that keeps array positions; it reveals nothing but the array's length."""
    return {} if isinstance(value, dict) else [_shell(v) for v in value] if isinstance(value, list) else None
