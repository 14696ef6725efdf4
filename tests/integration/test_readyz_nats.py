"""/readyz with the NATS transport: ready while connected, 503 naming NATS once the connection is gone."""

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient

from test_nats_transport import nats_reason

pytestmark = pytest.mark.skipif(nats_reason() is not None, reason=nats_reason() or "")


def test_readyz_says_when_nats_is_not_connected(tmp_path):
    from concord.app import create_app
    from concord.bootstrap import bootstrap
    from concord.config import Settings

    stream = f"CONCORD_TEST_{uuid.uuid4().hex[:8].upper()}"
    hub = bootstrap(Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'concord.db'}",
                             bus_transport="nats", nats_stream=stream,
                             nats_subject_prefix=f"concordtest{uuid.uuid4().hex[:6]}"))
    try:
        with TestClient(create_app(hub, background=False)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["nats"] == "ok"
            hub.transport._run(hub.transport._nc.close())  # the broker connection lost, the process alive
            gone = client.get("/readyz")
            assert gone.status_code == 503 and "not connected" in gone.json()["checks"]["nats"]
            assert gone.json()["checks"]["database"] == "ok"
            assert client.get("/healthz").status_code == 200
            hub.transport._nc = None  # closed already: hub.close() must not drain it
    finally:
        async def drop():
            import nats

            nc = await nats.connect("nats://127.0.0.1:4222")
            await nc.jetstream().delete_stream(stream)
            await nc.close()

        asyncio.run(drop())
        hub.close()
