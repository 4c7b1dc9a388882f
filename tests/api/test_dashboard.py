"""The dashboard's assets ship in the package and are served at / and /static (no CDN).

The browser tests (tests/web/) drive the page; this one checks, without a browser, that every
ES module the page imports resolves, so a missing file fails fast and cheaply.
"""

from __future__ import annotations

import re

from .live import LiveServer

IMPORT = re.compile(r"""^import .*? from "(\./|\.\./)([^"]+)";$""", re.MULTILINE)


def test_dashboard_assets_resolve(server: LiveServer) -> None:
    with server.client(auth=False) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        html = page.text
        assert 'type="module" src="/static/app.js"' in html
        assert "http://" not in html and "https://" not in html  # nothing from a CDN
        for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
            assert client.get(asset).status_code == 200, asset
        seen: set[str] = set()
        pending = ["/static/app.js"]
        while pending:
            path = pending.pop()
            if path in seen:
                continue
            seen.add(path)
            response = client.get(path)
            assert response.status_code == 200, path
            assert "javascript" in response.headers["content-type"], path
            assert "https://" not in response.text, path
            base = path.rsplit("/", 1)[0]
            for prefix, target in IMPORT.findall(response.text):
                folder = base if prefix == "./" else base.rsplit("/", 1)[0]
                pending.append(f"{folder}/{target}")
        # The entry, the helpers and one module per screen.
        assert len(seen) >= 12, sorted(seen)
        assert any(p.endswith("/views/optimize.js") for p in seen)
