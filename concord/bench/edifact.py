"""EDIFACT benchmark: CUSDEC messages a second into lodged declarations, beside the JSON path in the same run.

The same realistic declarations (the demo's generator) are lodged twice, each time into a fresh database:
as NDJSON uploads through `declarations.grouping.lodge_batch` (the JSON path, the baseline) and as CUSDEC
interchanges through `standards.edifact.lodge_interchange`, with as many declarations per upload as messages
per interchange. Both run validation, risk, routing, the audit and a durable commit. Also: the conversion alone
(interchange text to validated documents) and the round trip's fidelity (fields kept through CUSDEC and back).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from importlib import resources
from pathlib import Path

from pydifact.control import Characters
from pydifact.segments import Segment
from pydifact.serializer import Serializer
from sqlalchemy import select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap, settle_heap
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.grouping import lodge_batch
from concord.declarations.schemas import parse_declaration
from concord.demo.run import make_document
from concord.standards import cusdec, edifact


def interchange(documents: list[dict], reference: str) -> bytes:
    """A D.96B CUSDEC interchange (UNOW) of one message per document."""
    out = [Segment("UNB", ["UNOW", "4"], "BENCH", "CONCORD", ["20260105", "0930"], reference)]
    for n, doc in enumerate(documents, 1):
        inner = cusdec.from_document(doc)
        out += [Segment("UNH", str(n), ["CUSDEC", "D", "96B", "UN"]), *inner, Segment("UNT", str(len(inner) + 2),
                                                                                       str(n))]
    out.append(Segment("UNZ", str(len(documents)), reference))
    return Serializer(Characters.from_str(edifact.CHARACTERS)).serialize(out, with_una_header=True).encode()


def _leaves(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}/{i}")
    else:
        yield path, value


def fidelity(documents: list[dict]) -> dict:
    """Fields of each document kept through CUSDEC and back (the validated JSON form compared field by field)."""
    kept = total = whole = 0
    for doc in documents:
        answer, messages = edifact.parse(edifact.decode(interchange([doc], "F")))
        back = parse_declaration(cusdec.to_document(messages[0][1]).document).model_dump(mode="json")
        want, got = dict(_leaves(doc)), dict(_leaves(back))
        total += len(want)
        kept += sum(1 for k, v in want.items() if got.get(k) == v)
        whole += want == got
    return {"documents": len(documents), "fields": total, "fields_kept": kept, "documents_identical": whole}


def _hub(tmp: Path, name: str):
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp / name}", var_dir=tmp / name.replace('.db', '')),
                    clock=FixedClock())
    app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
    with app.sessions() as s:
        trader = subject_for(s.scalars(select(User).where(User.id == "rotterdam-freight")).one(), "CUS")
    return app, trader


def run(count: int = 2000, per_interchange: int = 500) -> dict:
    """Measure both paths in the same run; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        json_app, trader = _hub(tmp, "json.db")
        rng, now = random.Random(1), FixedClock().now()
        documents = [parse_declaration(make_document(rng, now, i, trader)).model_dump(mode="json")
                     for i in range(count)]
        chunks = [documents[i:i + per_interchange] for i in range(0, count, per_interchange)]
        uploads = [b"\n".join(json.dumps(d).encode() for d in chunk) for chunk in chunks]
        interchanges = [interchange(chunk, f"B{n}") for n, chunk in enumerate(chunks)]
        settle_heap()
        start = time.perf_counter()
        failed = sum(lodge_batch(json_app.bus, trader, upload, per_interchange)["failed"] for upload in uploads)
        json_seconds = time.perf_counter() - start
        json_app.close()
        assert failed == 0, f"{failed} JSON declarations failed"
        edi_app, trader = _hub(tmp, "edifact.db")
        start = time.perf_counter()
        answers = [edifact.lodge_interchange(edi_app.bus, trader, body) for body in interchanges]
        edi_seconds = time.perf_counter() - start
        edi_app.close()
        failed = sum(1 for a in answers for m in a.messages if m.error) + sum(len(a.faults) for a in answers)
        assert failed == 0, f"{failed} CUSDEC messages failed"
        start = time.perf_counter()
        for body in interchanges:
            _, messages = edifact.parse(edifact.decode(body))
            for _, segments in messages:
                parse_declaration(cusdec.to_document(segments).document)
        convert_seconds = time.perf_counter() - start
    return {"declarations": count, "messages_per_interchange": per_interchange,
            "interchange_bytes": sum(map(len, interchanges)), "ndjson_bytes": sum(map(len, uploads)),
            "cusdec_messages_per_s": round(count / edi_seconds), "cusdec_seconds": round(edi_seconds, 2),
            "json_declarations_per_s": round(count / json_seconds), "json_seconds": round(json_seconds, 2),
            "slowdown_vs_json": round(edi_seconds / json_seconds, 2),
            "conversion_only_messages_per_s": round(count / convert_seconds),
            "round_trip": fidelity(documents[:200]),
            "note": "timings on a shared machine are noisy; compare the two paths of the same run"}
