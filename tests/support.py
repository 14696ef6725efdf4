"""Test data builders shared by the suites (no fixtures here; see conftest.py)."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

from sqlalchemy import select

from concord.access.handlers import subject_for
from concord.access.models import User

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def demo_config_text(random_rate: float = 0.0) -> str:
    """The demo config; tests switch random selection off so lanes are deterministic."""
    text = resources.files("concord.demo").joinpath("coordination.yaml").read_text()
    assert "random_inspection_rate: 0.03" in text
    return text.replace("random_inspection_rate: 0.03", f"random_inspection_rate: {random_rate}")


def subjects(app) -> dict:
    with app.sessions() as s:
        lead = app.lead_agency(s)
        return {u.id: subject_for(u, lead) for u in s.scalars(select(User))}


BASE_DECLARATION = {
    "lrn": "LRN-0001",
    "type": "IM",
    "declarant": {"id": "NL823456781", "name": "Holland Foods Import BV", "country": "NL",
                  "address": "Waalhaven Zuidzijde 21, 3089 JH Rotterdam"},
    "importer": {"id": "NL823456781", "name": "Holland Foods Import BV", "country": "NL",
                 "address": "Waalhaven Zuidzijde 21, 3089 JH Rotterdam"},
    "exporter": {"id": "ECEXP000001", "name": "Guayaquil Banana Exporters SA", "country": "EC",
                 "address": "Av. 9 de Octubre 100, Guayaquil"},
    "office_of_entry": "NLRTM",
    "transport": {"mode": "sea", "conveyance": "IMO9074729", "containers": ["MSCU1234566"]},
    "arrival": "2026-01-07T08:00:00+00:00",
    "items": [{"hs_code": "610910", "description": "T-shirts of cotton, knitted", "origin": "BD",
               "quantity": "1000", "unit": "NAR", "net_mass_kg": "200", "value": {"amount": "2800.00", "currency": "EUR"},
               "documents": []}],
}


def declaration(**changes) -> dict:
    """A valid declaration (Holland Foods, T-shirts: customs only), with top-level fields replaced."""
    doc = copy.deepcopy(BASE_DECLARATION)
    doc.update(copy.deepcopy(changes))
    return doc


def item(hs_code: str, description: str, origin: str, amount: str = "5000.00", documents=(), **extra) -> dict:
    return {"hs_code": hs_code, "description": description, "origin": origin, "quantity": "100", "unit": "KGM",
            "net_mass_kg": "100", "value": {"amount": amount, "currency": "EUR"},
            "documents": [{"type": t, "reference": f"{t}-1"} for t in documents], **extra}


def console_accounts(app, users, password: str) -> None:
    """Console accounts for `users`, all with `password`: one Argon2id hash (a tenth of a second of CPU), copied."""
    from sqlalchemy import insert

    from concord.console.auth import set_password
    from concord.console.models import ConsoleAccount

    set_password(app, users[0], password)
    if len(users) == 1:
        return
    with app.sessions() as s:
        first = s.get(ConsoleAccount, users[0])
        s.execute(insert(ConsoleAccount), [{"user_id": u, "password_hash": first.password_hash, "totp_secret": None,
                                            "failures": 0, "locked_until": None, "changed_at": first.changed_at}
                                           for u in users[1:]])
        s.commit()
