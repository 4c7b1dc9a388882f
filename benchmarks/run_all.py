"""Run every benchmark script in this folder, one after another (figures go to stdout + results/)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    scripts = sorted(p for p in here.glob("*.py") if p.name != Path(__file__).name)
    failures: list[str] = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)])
        print(f"--- {script.name}: exit {code} in {time.perf_counter() - started:.0f}s", flush=True)
        if code:
            failures.append(script.name)
    if failures:
        print(f"\nfailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
