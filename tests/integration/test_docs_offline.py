"""The API docs page works on a closed network: every asset it names is served by the hub itself."""

import re

from fastapi.testclient import TestClient

from concord.app import create_app


def test_docs_page_names_no_other_host_and_its_assets_are_served(sqlite_concord):
    with TestClient(create_app(sqlite_concord, background=False)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert not re.search(r"(https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", page.text), "an external host in /docs"
        assert '"validatorUrl": null' in page.text  # else Swagger UI fetches a badge from validator.swagger.io
        assets = re.findall(r'(?:href|src)="([^"]+)"', page.text)
        assert len(assets) == 3
        for asset in assets:
            assert asset.startswith("/docs-assets/")
            assert client.get(asset).status_code == 200, asset
        assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered
        assert client.get("/openapi.json").status_code == 200
