"""One lodging's failure never fails another: concurrent bursts and uploads with poisoned lodgings, on both databases.

Two kinds of poison. Input the edge must refuse (an Idempotency-Key over 100 characters, a NUL character, 150
countries of origin, a quantity of 1E+999999999): each gets 422 with a pointer, and PostgreSQL never sees it.
And a refusal nobody foresaw: a trigger in the test database refuses lodgings whose LRN starts with POISON, so
the group transaction holding one fails; then each of its lodgings goes alone and only the poisoned one fails.
"""

import asyncio
import logging

import httpx
import orjson
import pycountry
from sqlalchemy import func, select, text

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.declarations.grouping import LodgingQueue
from concord.declarations.models import Declaration
from support import declaration, item

TRADERS = {"hollandfoods": "NL823456781", "rotterdam-freight": "NL812345670", "eurotech": "DE345678912",
           "greenleaf": "NL834567892"}
VALID_PER_TRADER = 60


def _refuse_poison(concord) -> None:
    """A database refusal that validation cannot foresee: a trigger on the declarations table."""
    with concord.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN IF NEW.lrn LIKE 'POISON%' "
                              "THEN RAISE EXCEPTION 'poisoned lodging'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON declarations FOR EACH ROW "
                              "EXECUTE FUNCTION refuse_poison()"))
        else:
            conn.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON declarations WHEN NEW.lrn LIKE 'POISON%' "
                              "BEGIN SELECT RAISE(ABORT, 'poisoned lodging'); END"))


def _own(trader_id: str, **changes) -> dict:
    party = declaration()["declarant"] | {"id": trader_id}
    return declaration(declarant=party, importer=party, **changes)


def _refused_at_the_edge(trader_id: str, n: int) -> list[tuple[dict, dict, str]]:
    """(body, headers, the pointer the 422 names) of lodgings the edge must refuse."""
    origins = [c.alpha_2 for c in pycountry.countries][:150]
    nul = _own(trader_id, lrn=f"NUL-{n}")
    nul["items"][0]["description"] = "T-shirts\u0000"
    return [
        (_own(trader_id, lrn=f"KEY-{n}"), {"Idempotency-Key": "k" * 101}, ""),
        (nul, {}, "/items/0/description"),
        (_own(trader_id, lrn=f"ORIG-{n}", items=[item("610910", "T-shirts", o) for o in origins]), {}, "/items"),
        (_own(trader_id, lrn=f"QTY-{n}", items=[item("610910", "T-shirts", "BD", quantity="1E+999999999")]), {},
         "/items/0/quantity"),
        (_own(trader_id, lrn=f"YEAR-{n}", arrival="1900-01-01T00:00:00+00:00"), {}, "/arrival"),
    ]


def test_a_poisoned_lodging_fails_alone_in_a_concurrent_burst(concord, caplog):
    _refuse_poison(concord)
    app = create_app(concord, background=False)
    # a wide window: big groups, poison inside; on PostgreSQL lodged in the queue's thread, as the server does
    concord.lodging_queue = LodgingQueue(concord.bus, 0.02, threads=2 if concord.engine.dialect.name == "postgresql" else 0)
    tokens = {u: concord.bus.handle(IssueToken(user_id=u))["token"] for u in TRADERS}
    valid, edge, poisoned = [], [], []
    for n in range(VALID_PER_TRADER):
        for user, trader_id in TRADERS.items():
            valid.append((user, _own(trader_id, lrn=f"OK-{n}"), {"Idempotency-Key": f"key-{user}-{n}"}))
            if n % 15 == 0:
                edge += [(user, body, headers, where) for body, headers, where in _refused_at_the_edge(trader_id, n)]
                poisoned.append((user, _own(trader_id, lrn=f"POISON-{n}"), {}))

    async def post(client, user, body, headers):
        return await client.post("/api/v1/declarations", content=orjson.dumps(body),
                                 headers={"Authorization": f"Bearer {tokens[user]}"} | headers)

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            calls = [post(client, u, b, h) for u, b, h in valid] + [post(client, u, b, h) for u, b, h, _ in edge] \
                + [post(client, u, b, h) for u, b, h in poisoned]
            order = sorted(range(len(calls)), key=lambda i: (i * 7919) % len(calls))  # poison spread through
            answers = await asyncio.gather(*[calls[i] for i in order])
            return [a for _, a in sorted(zip(order, answers))]

    with caplog.at_level(logging.ERROR, logger="concord.declarations.grouping"):
        answers = asyncio.run(run())
    on_valid, on_edge, on_poison = (answers[:len(valid)], answers[len(valid):len(valid) + len(edge)],
                                    answers[len(valid) + len(edge):])
    failed_valid = [a.text for a in on_valid if a.status_code != 201]
    assert failed_valid == [], f"{len(failed_valid)} of {len(valid)} valid lodgings failed: {failed_valid[:3]}"
    for (_, _, _, where), answer in zip(edge, on_edge):
        assert answer.status_code == 422, answer.text
        assert where in [p["pointer"] for p in answer.json()["error"]["problems"]], answer.text
    assert all(a.status_code == 500 and a.json()["error"]["code"] == "internal" for a in on_poison)
    assert "lodging each alone" in caplog.text  # the poison did share groups with valid lodgings
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == len(valid)
        assert s.scalar(select(func.count()).select_from(Declaration).where(Declaration.lrn.like("OK-%"))) == len(valid)


def test_an_upload_with_poisoned_lines_loses_only_those_lines(concord):
    _refuse_poison(concord)
    app = create_app(concord, background=False)
    token = concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"]
    trader_id = TRADERS["hollandfoods"]
    lines = [_own(trader_id, lrn=f"UP-{n}") for n in range(250)]
    edge = [body for body, headers, _ in _refused_at_the_edge(trader_id, 0) if not headers]
    poison = [_own(trader_id, lrn=f"POISON-{n}") for n in range(3)]
    for at, body in zip((7, 60, 61, 130, 199, 220, 248), edge + poison):
        lines.insert(at, body)
    upload = b"\n".join(orjson.dumps(x) for x in lines)

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post("/api/v1/declarations/batch", content=upload, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})

    answer = asyncio.run(run())
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert (out["lodged"], out["failed"]) == (250, len(edge) + len(poison))
    failed = {lines[r["line"] - 1]["lrn"]: r["error"]["code"] for r in out["results"] if "error" in r}
    assert failed == {b["lrn"]: "invalid" for b in edge} | {b["lrn"]: "internal" for b in poison}
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration).where(Declaration.lrn.like("UP-%"))) == 250
