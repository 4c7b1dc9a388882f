"""The one way third-party messages enter ours: their first line, or their type when empty."""

from __future__ import annotations

from embodied_ai_architect.errors import describe, first_line


def test_first_line_keeps_the_first_line_without_colour_codes() -> None:
    exc = RuntimeError("\x1b[31mshape mismatch\x1b[0m at node 3\n  traceback noise\n")
    assert first_line(exc) == "shape mismatch at node 3"
    assert describe(exc) == "RuntimeError: shape mismatch at node 3"


def test_an_empty_message_names_the_type_instead() -> None:
    # str(exc).splitlines()[0] raised IndexError on these; the helper must not.
    assert first_line(AssertionError()) == "AssertionError"
    assert describe(AssertionError()) == "AssertionError"
    assert first_line(ValueError("   \n")) == "ValueError"


def test_a_long_line_is_cut() -> None:
    assert len(first_line(ValueError("x" * 5000))) == 400
    assert first_line(ValueError("abcdef"), limit=3) == "abc"
