"""GET /api/v1/stream on a real `concord serve` (issue 14, item 5): each recipient's stream carries exactly what
its timeline shows, resumes with Last-Event-ID, is bounded per user, and does not hold the server's shutdown."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest

from concord.bench.alerts import prepare, serve
from support import declaration, item

BANANAS = item("080390", "Fresh bananas", "EC", documents=["N851"])  # plant health engaged
SHRIMPS = item("030617", "Frozen shrimps", "VN")  # veterinary
PEST = "Thaumatotibia leucotreta larvae found in lot 3"

USERS = ("cus-officer", "nppo-officer", "vet-officer", "pol-officer", "hollandfoods", "rotterdam-freight",
         "nppo-liaison", "vet-liaison", "fda-officer")


class Stream:
    """A real HTTP client's stream (httpx), read on a thread: the events as (id, event, data)."""

    def __init__(self, base: str, token: str, last_event_id: str | None = None, events=()):
        headers = {"Authorization": f"Bearer {token}"} | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(5, read=None))
        self.response = self.client.send(self.client.build_request(
            "GET", "/api/v1/stream", headers=headers, params=[("events", e) for e in events]), stream=True)
        self.events: list[tuple[str | None, str, dict]] = []
        self.comments = 0
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        fields: dict = {}
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line == "":
                    if "data" in fields:
                        self.events.append((fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])))
                    fields = {}
                else:
                    key, _, value = line.partition(": ")
                    fields[key] = value
        except (httpx.HTTPError, RuntimeError):
            pass

    def about(self, did: str) -> list[dict]:
        return [m for _, _, m in self.events if m.get("declaration_id") == did]

    def close(self):
        self.response.close()
        self.client.close()


def wait_for(condition, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    var = tmp_path_factory.mktemp("stream")
    tokens = prepare(var, USERS)
    with serve(var, CONCORD_STREAM_HEARTBEAT_S="0.5") as (base, process):
        yield base, tokens, process, var


def lodge(base, token, doc) -> str:
    r = httpx.post(f"{base}/api/v1/declarations", json=doc, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_each_stream_carries_what_its_recipient_may_read_and_resumes(hub):
    base, tokens, *_ = hub
    auth = lambda user: {"Authorization": f"Bearer {tokens[user]}"}  # noqa: E731
    streams = {u: Stream(base, tokens[u]) for u in USERS[:6]}
    tasks_only = Stream(base, tokens["nppo-officer"], events=["task."])
    try:
        time.sleep(0.5)
        bananas = lodge(base, tokens["hollandfoods"], declaration(lrn="S-1", items=[BANANAS]))
        shrimps = lodge(base, tokens["rotterdam-freight"], declaration(
            lrn="S-2", items=[SHRIMPS], declarant={"id": "NL812345670", "name": "Rotterdam Freight Brokers BV",
                                                   "country": "NL", "address": "Europaweg 1, Rotterdam"}))
        task = next(s["task_id"] for s in httpx.get(f"{base}/api/v1/declarations/{bananas}",
                                                    headers=auth("hollandfoods")).json()["steps"]
                    if s["agency"] == "NPPO" and s["status"] == "open")
        r = httpx.post(f"{base}/api/v1/tasks/{task}/decisions", headers=auth("nppo-officer"),
                       json={"decision": "refuse", "reason": PEST})
        assert r.status_code == 200, r.text
        wait_for(lambda: any(m["name"] == "declaration.refused" for m in streams["hollandfoods"].about(bananas)))
        wait_for(lambda: any(m["name"] == "declaration.refused" for m in streams["nppo-officer"].about(bananas)))
        time.sleep(1.0)  # anything that should not come would have come by now
        for user, stream in streams.items():
            for did, owner in ((bananas, "hollandfoods"), (shrimps, "rotterdam-freight")):
                got = stream.about(did)
                timeline = httpx.get(f"{base}/api/v1/declarations/{did}/timeline", headers=auth(user))
                if timeline.status_code == 404:  # may not read it: not even its id on the stream
                    assert got == [], (user, did)
                    continue
                entries = timeline.json()["events"]
                # Each message is the timeline entry the recipient reads, and it gets every one of them.
                assert [(m["name"], m["occurred_at"]) for m in got] == [(e["event"], e["at"]) for e in entries], user
                assert all(m["payload"] == {k: v for k, v in e.items() if k not in ("event", "at", "agency")}
                           for m, e in zip(got, entries)), user
        assert streams["vet-officer"].about(bananas) == [] and streams["pol-officer"].about(bananas) == []
        assert streams["rotterdam-freight"].about(bananas) == [] and streams["hollandfoods"].about(shrimps) == []
        assert PEST in json.dumps(streams["hollandfoods"].about(bananas))  # the refusal reason, to its trader
        assert all(e == m["name"] for _, e, m in streams["cus-officer"].events)
        assert [m["name"] for m in tasks_only.about(bananas)] == [m["name"] for m in streams["nppo-officer"].about(
            bananas) if m["name"].startswith("task.")] != []
        # Resume: reconnect after the first event and receive the rest, exactly once each, with the same ids.
        first = streams["nppo-officer"].events
        resumed = Stream(base, tokens["nppo-officer"], last_event_id=first[0][0])
        try:
            wait_for(lambda: len(resumed.events) >= len(first) - 1)
            time.sleep(0.3)
            assert resumed.events == first[1:]
            ids = [int(i) for i, _, _ in first]
            assert ids == sorted(set(ids))
        finally:
            resumed.close()
        assert streams["nppo-officer"].comments > 0  # heartbeats while idle
    finally:
        for s in [*streams.values(), tasks_only]:
            s.close()


def test_a_stream_is_refused_without_a_token_a_reader_role_or_a_valid_cursor_and_is_bounded(hub):
    base, tokens, *_ = hub
    assert httpx.get(f"{base}/api/v1/stream").status_code == 401
    liaison = httpx.get(f"{base}/api/v1/stream", headers={"Authorization": f"Bearer {tokens['vet-liaison']}"})
    assert liaison.status_code == 403 and liaison.json()["error"]["code"] == "forbidden"
    bad = httpx.get(f"{base}/api/v1/stream", headers={"Authorization": f"Bearer {tokens['vet-officer']}",
                                                      "Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["problems"][0]["pointer"] == "/headers/Last-Event-ID"
    # A user whose streams no other test opened: a stream closed by a client counts until the server's next write.
    open_ = [Stream(base, tokens["fda-officer"]) for _ in range(4)]
    try:
        assert [s.response.status_code for s in open_] == [200] * 4
        fifth = Stream(base, tokens["fda-officer"])
        assert fifth.response.status_code == 429 and fifth.response.headers["Retry-After"]
        fifth.close()
        open_.pop().close()
        wait_for(lambda: (s := Stream(base, tokens["fda-officer"])).response.status_code == 200 and open_.append(s)
                 is None, 10)
    finally:
        for s in open_:
            s.close()


def test_open_streams_do_not_hold_the_servers_shutdown(tmp_path):
    tokens = prepare(tmp_path, ["cus-officer"])
    with serve(tmp_path) as (base, process):
        streams = [Stream(base, tokens["cus-officer"]) for _ in range(3)]
        assert all(s.response.status_code == 200 for s in streams)
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        assert time.monotonic() - start < 10
        for s in streams:
            s.close()


def test_the_webhooks_cli_shows_the_secret_once_and_refuses_a_bad_address(hub):
    import os
    import subprocess
    import sys
    from pathlib import Path

    *_, var = hub
    env = {**os.environ, "CONCORD_VAR_DIR": str(var)}
    concord = str(Path(sys.executable).parent / "concord")
    run = lambda *a: subprocess.run([concord, "webhooks", *a], env=env, capture_output=True, text=True,  # noqa: E731
                                    timeout=300)
    added = run("add", "https://nppo.example/concord", "--as", "nppo-liaison", "--event", "task.")
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert made["secret"].startswith("whsec_") and made["events"] == ["task."]
    listed = run("list", "--as", "nppo-liaison")
    assert [h["id"] for h in json.loads(listed.stdout)] == [made["id"]] and "whsec_" not in listed.stdout
    bad = run("add", "ftp://nppo.example/concord", "--as", "nppo-liaison")
    assert bad.returncode == 2 and "/url" in bad.stderr and "Traceback" not in bad.stderr
