"""Run a Python child process for work that may crash or must be measured alone.

A fresh interpreter isolates what can kill or skew this one: ONNX Runtime has crashed
(SIGSEGV) on some rewritten graphs, and a model's own peak memory is only visible in a
process that holds nothing else. A timeout or a failed exit becomes the caller's error class.

Example:
    >>> done = run_python(["-c", "print('ok')"], timeout=60, error=EAAError, what="a probe")
    >>> done.stdout.strip(), exit_reason(done)
    ('ok', 'succeeded')
"""

from __future__ import annotations

import subprocess
import sys

from embodied_ai_architect.errors import EAAError


def run_python(
    args: list[str], *, timeout: float, error: type[EAAError], what: str, hint: str
) -> subprocess.CompletedProcess[str]:
    """``python args...`` in a fresh process, its output captured; raises ``error`` ("``what``
    took over N s", with ``hint``) when it runs past ``timeout`` seconds."""
    try:
        return subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise error(f"{what} took over {timeout:g} s", hint=hint) from exc


def exit_reason(done: subprocess.CompletedProcess[str]) -> str:
    """How the child ended, for a message: ``crashed (signal 11)``, ``failed (exit 1): <its
    last line of stderr>`` or ``succeeded``."""
    if done.returncode < 0:
        return f"crashed (signal {-done.returncode})"
    if done.returncode > 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"failed (exit {done.returncode}): {last[0]}"
    return "succeeded"
