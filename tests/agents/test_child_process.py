"""Child Python processes: a timeout and a failed exit become the caller's own error."""

from __future__ import annotations

import pytest

from embodied_ai_architect.agents.child_process import exit_reason, run_python
from embodied_ai_architect.errors import EvaluationError, TechniqueError


def test_output_comes_back_and_a_failure_names_its_last_line() -> None:
    done = run_python(
        ["-c", "import sys; print('out'); sys.exit('broken: no model')"],
        timeout=60,
        error=TechniqueError,
        what="probe",
        hint="",
    )
    assert done.stdout.strip() == "out"
    assert exit_reason(done) == "failed (exit 1): broken: no model"


def test_a_crash_is_reported_with_its_signal() -> None:
    done = run_python(
        ["-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
        timeout=60,
        error=TechniqueError,
        what="probe",
        hint="",
    )
    assert exit_reason(done) == "crashed (signal 11)"


def test_a_timeout_is_the_callers_error_class() -> None:
    with pytest.raises(EvaluationError, match=r"sleeping took over 0\.5 s") as info:
        run_python(
            ["-c", "import time; time.sleep(30)"],
            timeout=0.5,
            error=EvaluationError,
            what="sleeping",
            hint="retry",
        )
    assert info.value.hint == "retry"
