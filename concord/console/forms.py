"""Forms whose fields are named by JSON pointers, so the API's 422 problems land on the input they name."""

from __future__ import annotations

from pydantic import ValidationError

from concord.errors import problems_from

PARTY = ("id", "name", "country", "address")
ITEM = ("hs_code", "description", "origin", "quantity", "unit", "net_mass_kg", "value/amount", "value/currency",
        "documents")
ITEM_ROWS = 3  # item rows on the lodging form; a larger declaration goes through the API or an upload


def lodging_fields() -> list[str]:
    """Every input of the lodging form, by the pointer it fills."""
    fields = ["/lrn", "/type", "/office_of_entry", "/arrival", "/transport/mode", "/transport/conveyance",
              "/transport/containers"]
    fields += [f"/{role}/{k}" for role in ("declarant", "importer", "exporter") for k in PARTY]
    fields += [f"/items/{n}/{k}" for n in range(ITEM_ROWS) for k in ITEM]
    return fields


def input_id(pointer: str) -> str:
    return "f" + pointer.replace("/", "-")


def document_of(values: dict) -> dict:
    """The declaration a lodging form describes; blank fields are left out, so the API says what is required."""
    doc: dict = {}
    for pointer in lodging_fields():
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
    if "items" in doc:  # rows left blank are not items; the rest keep their order
        doc["items"] = [doc["items"][k] for k in sorted(doc["items"], key=int)]
    return doc


def _put(doc: dict, path: list[str], value) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


def renumber(problems: dict, values: dict) -> dict:
    """Problems point into the document's items (blank rows removed): point them back at the form's rows."""
    rows = [n for n in range(ITEM_ROWS) if any((values.get(f"/items/{n}/{k}") or "").strip() for k in ITEM)]
    out = {}
    for pointer, message in problems.items():
        parts = pointer.split("/")
        if len(parts) > 2 and parts[1] == "items" and parts[2].isdigit() and int(parts[2]) < len(rows):
            parts[2] = str(rows[int(parts[2])])
        out["/".join(parts)] = message
    return out


def at_fields(problems: dict, fields: list[str]) -> tuple[dict, list]:
    """Each problem at the nearest input above its pointer; the ones no input holds, for the summary."""
    placed: dict = {}
    loose = []
    known = set(fields)
    for pointer, message in problems.items():
        target = pointer
        while target and target not in known:
            target = target.rsplit("/", 1)[0]
        if target:
            placed[target] = f"{placed[target]}; {message}" if target in placed else message
        else:
            loose.append((pointer, message))
    return placed, loose


def problems_of_validation(error: ValidationError) -> dict:
    return {p.pointer: p.message for p in problems_from(error)}
