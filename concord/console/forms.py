"""Forms whose fields are named by JSON pointers, so the API's 422 problems land on the input they name."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import ValidationError

from concord.errors import problems_from

PARTY = ("id", "name", "country", "address")
ITEM = ("hs_code", "description", "origin", "quantity", "unit", "net_mass_kg", "value/amount", "value/currency",
        "documents")
ITEM_ROWS = 3  # item rows on an empty lodging form; "Add an item" adds one more each time
MAX_ITEM_ROWS = 999  # the API's most goods items (DeclarationIn.items): the console lodges and amends what it takes
MANY_ITEMS = 40  # past this many rows (about 70 KB of page) the form points to the batch upload, which is quicker
LODGING_FIELDS = MAX_ITEM_ROWS * (len(ITEM) + 1) + 100  # each row's inputs and its "remove" box, and the rest


async def lodging_form(request, signed) -> dict:
    """The lodging or amendment form: as large as the API's declaration (999 items, DECLARATION_MAX_BYTES)."""
    from concord.console.web import form
    from concord.declarations.api import DECLARATION_MAX_BYTES

    return await form(request, signed, max_bytes=DECLARATION_MAX_BYTES, max_fields=LODGING_FIELDS)


def item_rows(values: dict) -> int:
    """How many item rows the form has (its hidden `rows` input), within 1..MAX_ITEM_ROWS."""
    try:
        return min(max(int(values.get("rows") or ITEM_ROWS), 1), MAX_ITEM_ROWS)
    except ValueError:
        return ITEM_ROWS


def lodging_fields(rows: int = ITEM_ROWS) -> list[str]:
    """Every input of the lodging form, by the pointer it fills."""
    fields = ["/lrn", "/type", "/office_of_entry", "/arrival", "/transport/mode", "/transport/conveyance",
              "/transport/containers"]
    fields += [f"/{role}/{k}" for role in ("declarant", "importer", "exporter") for k in PARTY]
    fields += [f"/items/{n}/{k}" for n in range(rows) for k in ITEM]
    return fields


def input_id(pointer: str) -> str:
    return "f" + pointer.replace("/", "-")


def _kept(values: dict) -> list[int]:
    """The item rows that are filled in and not marked for removal, in order."""
    return [n for n in range(item_rows(values)) if not values.get(f"remove/{n}")
            and any((values.get(f"/items/{n}/{k}") or "").strip() for k in ITEM)]


def document_of(values: dict) -> dict:
    """The declaration a lodging form describes; blank fields are left out, so the API says what is required, and
    rows left blank or marked for removal are not items."""
    doc: dict = {}
    kept = set(_kept(values))
    for pointer in lodging_fields(item_rows(values)):
        if pointer.startswith("/items/") and int(pointer.split("/")[2]) not in kept:
            continue
        value = (values.get(pointer) or "").strip()
        if not value:
            continue
        if pointer == "/transport/containers":
            value = [c.strip().upper() for c in value.replace(",", " ").split()]
        elif pointer.endswith("/documents"):  # "N851:PC-2026-1, C085:LIC-7"
            value = [{"type": t.strip().upper(), "reference": r.strip()}
                     for t, _, r in (part.partition(":") for part in value.split(",") if part.strip())]
        elif pointer == "/arrival" and len(value) == 16:  # <input type=datetime-local>: minutes, no zone; UTC
            value += ":00+00:00"
        _put(doc, pointer.strip("/").split("/"), value)
    if "items" in doc:  # the kept rows, in their order
        doc["items"] = [doc["items"][k] for k in sorted(doc["items"], key=int)]
    return doc


def with_rows(values: dict, extra: int) -> dict:
    """The form again without the rows marked for removal, the rest moved up, and `extra` blank rows after them
    ("Add an item" and "Remove the marked items" send the form back so, nothing lodged)."""
    kept = [n for n in range(item_rows(values)) if not values.get(f"remove/{n}")]
    out = {k: v for k, v in values.items() if not k.startswith(("/items/", "remove/"))}
    for new, old in enumerate(kept):
        out |= {f"/items/{new}/{k}": values.get(f"/items/{old}/{k}", "") for k in ITEM}
    out["rows"] = str(min(max(len(kept) + extra, 1), MAX_ITEM_ROWS))
    return out


def _put(doc: dict, path: list[str], value) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


def renumber(problems: dict, values: dict) -> dict:
    """Problems point into the document's items (blank and removed rows left out): point them at the form's rows."""
    rows = _kept(values)
    out = {}
    for pointer, message in problems.items():
        parts = pointer.split("/")
        if len(parts) > 2 and parts[1] == "items" and parts[2].isdigit() and int(parts[2]) < len(rows):
            parts[2] = str(rows[int(parts[2])])
        out["/".join(parts)] = message
    return out


def at_fields(problems: dict, fields: list[str]) -> tuple[dict, list]:
    """Each problem at the nearest input above its pointer (or the first below it); the rest, for the summary."""
    placed: dict = {}
    loose = []
    known = set(fields)
    for pointer, message in problems.items():
        target = pointer
        while target and target not in known:
            target = target.rsplit("/", 1)[0]
        if not target and pointer:  # a whole part missing (/indicators): at its first input
            target = next((f for f in fields if f.startswith(pointer + "/")), "")
        if target:
            placed[target] = f"{placed[target]}; {message}" if target in placed else message
        else:
            loose.append((pointer, message))
    return placed, loose


def problems_of_validation(error: ValidationError) -> dict:
    return {p.pointer: p.message for p in problems_from(error)}


# -- any form whose inputs are named by pointers (incidents, operations, notices, agreements) --

class Input(NamedTuple):
    pointer: str
    label: str
    kind: str = "text"  # text, codes, list, time (document_from's kinds), long (a text area)
    choices: tuple = ()  # a select's (value, text); a leading ("", "—") makes it optional
    size: int = 200


def choices_of(values, optional: bool = False) -> tuple:
    """A select's choices from codes, shown with spaces; optional: a blank first choice."""
    return ((("", "—"),) if optional else ()) + tuple((v, v.replace("_", " ")) for v in values)


def kinds_of(fieldsets) -> dict[str, str]:
    """Each input's pointer and how document_from reads it, from a form's (legend, inputs) fieldsets."""
    return {i.pointer: ("text" if i.kind == "long" else i.kind) for _, inputs in fieldsets for i in inputs}


def document_from(values: dict, kinds: dict[str, str]) -> dict:
    """The document a form describes, by each input's kind: text, codes (comma-separated, upper-cased), list
    (comma-separated) or time (<input type=datetime-local>, minutes or seconds, in UTC). Blank inputs are left out, so the
    API says what is required; a row of a list (`/found/0/goods`) counts only when one of its inputs is filled."""
    doc: dict = {}
    for pointer, kind in kinds.items():
        value = (values.get(pointer) or "").strip()
        if not value:
            continue
        if kind in ("codes", "list"):
            value = [v.strip().upper() if kind == "codes" else v.strip() for v in value.split(",") if v.strip()]
        elif kind == "time" and len(value) in (16, 19):  # minutes, or seconds (a stored time shown again)
            value += (":00" if len(value) == 16 else "") + "+00:00"
        _put(doc, pointer.strip("/").split("/"), value)
    return _lists(doc)


def _lists(node):
    """Rows keyed "0", "1"... become lists in their order (a blank row is simply absent)."""
    if not isinstance(node, dict):
        return node
    node = {k: _lists(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def form_problems(problems: dict, values: dict, kinds: dict[str, str]) -> dict:
    """Point problems about list rows back at the form's rows (the document drops blank ones)."""
    import re

    out = dict(problems)
    for prefix in {m.group(1) for p in kinds if (m := re.match(r"^(.*)/\d+/[^/]+$", p))}:
        filled = sorted({int(p[len(prefix) + 1:].split("/")[0]) for p in kinds if p.startswith(prefix + "/")
                         and (values.get(p) or "").strip()})
        moved = {}
        for pointer, message in out.items():
            rest = pointer[len(prefix) + 1:].split("/", 1) if pointer.startswith(prefix + "/") else None
            if rest and rest[0].isdigit() and int(rest[0]) < len(filled):
                pointer = "/".join([prefix, str(filled[int(rest[0])])] + rest[1:])
            moved[pointer] = message
        out = moved
    return out
