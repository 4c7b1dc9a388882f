"""Property-based API tests: schemathesis against the live server's OpenAPI (bounded).

Each operation gets a few derandomized examples (positive and negative data); every
response must match its documented status, content type and schema, and none may be a 5xx.
(Operations are driven with hypothesis directly: schemathesis' pytest loader does not
support pytest 9 yet.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .live import TOKEN, LiveServer

MAX_EXAMPLES = 6
MAX_EXAMPLES_DEEP = 100  # per operation: > 2,000 cases over the ~25 operations
# Rules JSON Schema cannot state: an upload must *be* a model file (checked from its bytes),
# and a job request must name exactly one model source / at least one constraint. For these
# two operations a schema-valid request may rightly get 422; every other check still applies.
SEMANTIC_422 = {"POST /api/v1/models", "POST /api/v1/jobs"}


def run_schemathesis(server: LiveServer, max_examples: int) -> tuple[int, int, list[str]]:
    """(operations, cases, failures) of every operation with every check (``--checks all``)."""
    # A generous timeout: the first /openapi.json is built on demand, slow on a loaded host.
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json", timeout=120)
    failures: list[str] = []
    operations = 0
    cases = [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            cases[0] += 1
            excluded = (
                [schemathesis.checks.positive_data_acceptance]
                if case.operation.label in SEMANTIC_422
                else []
            )
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30, excluded_checks=excluded
            )

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    return operations, cases[0], failures


def test_api_conforms_to_its_schema(server: LiveServer) -> None:
    operations, _, failures = run_schemathesis(server, MAX_EXAMPLES)
    assert operations >= 15
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_api_conforms_to_its_schema_at_2000_cases(server: LiveServer) -> None:
    """The hardening bar: every check, no 5xx, at least 2,000 generated cases."""
    operations, cases, failures = run_schemathesis(server, MAX_EXAMPLES_DEEP)
    assert not failures, "\n\n".join(failures)
    assert cases >= 2000, f"only {cases} cases over {operations} operations"
