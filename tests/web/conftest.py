"""A real `branes serve` and Debian's chromium driven by Playwright, shared by the web tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.live import LiveServer

from .helpers import ARGS, CHROMIUM


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("web")
    live = LiveServer(
        root / "workspace", workers=2, env={"EAA_BACKUP_DIR": str(root / "backups")}
    ).start()
    yield live
    live.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian chromium: apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait up to 20 s, not Playwright's 5 s: chromium, the server and its workers
    # share a busy 2-core host with the rest of the suite. Explicit longer waits stay as set.
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
