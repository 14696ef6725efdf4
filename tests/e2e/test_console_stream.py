"""The console's live updates on a real server: /console/stream authenticates by the session cookie, carries each
user only their audience's notifications (as the API's stream), and carries them as bare `change` events."""

from __future__ import annotations

import re
import socket
import threading
import time

import httpx
import pytest

from concord.agencies.messages import LoadConfig
from concord.app import create_app
from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from support import console_accounts, declaration, demo_config_text, item, subjects

PASSWORD = "correct horse battery"
USERS = ("hollandfoods", "eurotech", "nppo-officer", "pol-officer", "nppo-liaison")


@pytest.fixture
def server(tmp_path):
    import uvicorn

    hub = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'concord.db'}", var_dir=tmp_path,
                             stream_heartbeat_s=0.5))
    hub.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    console_accounts(hub, USERS, PASSWORD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield hub, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    hub.close()


class Stream:
    """A signed-in browser's stream, read on a thread: the (event, data) pairs."""

    def __init__(self, base: str, user: str | None):
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(5, read=None))
        if user is not None:
            page = self.client.get("/console/sign-in")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            assert self.client.post("/console/sign-in", data={"csrf": csrf, "user": user, "password": PASSWORD,
                                                               "next": "/console/"}).status_code == 303
        self.response = self.client.send(self.client.build_request(
            "GET", "/console/stream", params=[("events", "task."), ("events", "declaration.")]), stream=True)
        self.events: list[tuple[str, str]] = []
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        fields: dict = {}
        try:
            for line in self.response.iter_lines():
                if line == "":
                    if "data" in fields:
                        self.events.append((fields.get("event", "message"), fields["data"]))
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value
        except (httpx.HTTPError, RuntimeError):
            pass

    def close(self):
        self.response.close()
        self.client.close()


def test_the_console_stream_carries_each_user_only_their_audiences_changes(server):
    hub, base = server
    streams = {u: Stream(base, u) for u in ("hollandfoods", "eurotech", "nppo-officer", "pol-officer")}
    try:
        assert all(s.response.status_code == 200 for s in streams.values())
        anonymous = Stream(base, None)
        assert anonymous.response.status_code == 303  # no session: off to sign-in, no stream
        liaison = Stream(base, "nppo-liaison")
        assert liaison.response.status_code == 403  # the API gives a liaison no stream either
        time.sleep(0.5)  # the listeners are registered before the response starts; this is only for the headers
        did = hub.bus.handle(SubmitDeclaration(document=parse_declaration(declaration(
            lrn="LRN-LIVE-1", items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])).model_dump(
            mode="json")), subject=subjects(hub)["hollandfoods"])["id"]
        deadline = time.monotonic() + 30
        while not (streams["hollandfoods"].events and streams["nppo-officer"].events):
            assert time.monotonic() < deadline, "the trader and plant health heard nothing"
            time.sleep(0.05)
        time.sleep(2)  # long enough for a stray event to arrive (every stream is fed by the same write)
        for user in ("hollandfoods", "nppo-officer"):
            names = {e for e, _ in streams[user].events}
            assert "change" in names and f"change-{did}" in names, (user, names)
            assert {d for _, d in streams[user].events} == {"{}"}  # no content: the page reads through its route
        assert streams["eurotech"].events == [] and streams["pol-officer"].events == []
        # A stream ends after REAUTHENTICATE_S, so the browser reconnects and its cookie is checked again
        from concord.console import live

        live.REAUTHENTICATE_S = 0.5
        try:
            short = Stream(base, "eurotech")
            assert short.response.status_code == 200
            wait = time.monotonic() + 20
            while not short.response.is_closed:
                assert time.monotonic() < wait, "the stream did not end"
                time.sleep(0.1)
        finally:
            live.REAUTHENTICATE_S = 600.0
        assert not streams["eurotech"].response.is_closed  # opened with the 10 minutes: still open
        # The notification list: the same audience's stored notifications, with a link to the record
        listed = streams["hollandfoods"].client.get("/console/notifications")
        assert listed.status_code == 200 and f'href="/console/declarations/{did}"' in listed.text
        assert did not in streams["eurotech"].client.get("/console/notifications").text
        assert did not in streams["pol-officer"].client.get("/console/notifications").text
    finally:
        for s in streams.values():
            s.close()
