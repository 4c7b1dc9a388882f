"""Browser helpers for the web tests: Debian's chromium and optional doc screenshots."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/api/live.py: the real server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def screenshot(page: Any, name: str) -> None:
    """Save docs/img/dashboard-<name>.png, only with EAA_SCREENSHOTS=1 (CI leaves them alone)."""
    if os.environ.get("EAA_SCREENSHOTS") != "1":
        return
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / f"dashboard-{name}.png"
    page.evaluate("document.getElementById('notice').hidden = true")  # a passing toast
    page.screenshot(path=str(path), full_page=True)
    try:  # palette PNGs are a fraction of the size and look the same for flat UI colours
        from PIL import Image

        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=128).save(path, optimize=True)
    except ImportError:
        pass
