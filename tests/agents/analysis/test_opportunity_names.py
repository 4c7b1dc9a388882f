"""The analysis names only registered techniques, so the planner can act on every opportunity.

Checked without running a model: every name in ``SuggestedTechnique`` is registered, rules build
opportunities only through ``offer``, and every name a rule passes to ``offer`` is a literal from
that list or a variable declared as ``SuggestedTechnique`` (which mypy then checks).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from embodied_ai_architect.agents import analysis
from embodied_ai_architect.agents.analysis.opportunity_base import SUGGESTED_TECHNIQUES
from embodied_ai_architect.agents.optimization.base import load_techniques

PACKAGE = Path(analysis.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def _calls(tree: ast.AST, name: str) -> list[tuple[ast.FunctionDef | None, ast.Call]]:
    found: list[tuple[ast.FunctionDef | None, ast.Call]] = []

    def visit(node: ast.AST, function: ast.FunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef) else function
            if isinstance(child, ast.Call):
                callee = child.func
                called = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
                if called == name:
                    found.append((function, child))
            visit(child, inner)

    visit(tree, None)
    return found


def _technique_argument(call: ast.Call) -> ast.expr:
    for keyword in call.keywords:
        if keyword.arg == "technique":
            return keyword.value
    return call.args[0]


def test_every_suggested_technique_is_registered() -> None:
    registered = set(load_techniques().names())
    assert registered >= SUGGESTED_TECHNIQUES, SUGGESTED_TECHNIQUES - registered


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_rules_name_only_suggested_techniques(module: Path) -> None:
    tree = ast.parse(module.read_text())
    for function, call in _calls(tree, "Opportunity"):
        assert module.name == "opportunity_base.py" and function and function.name == "offer", (
            f"{module.name}:{call.lineno} builds an Opportunity directly; use offer()"
        )
    for function, call in _calls(tree, "offer"):
        argument = _technique_argument(call)
        where = f"{module.name}:{call.lineno}"
        if isinstance(argument, ast.Constant):
            assert argument.value in SUGGESTED_TECHNIQUES, f"{where}: {argument.value!r}"
            continue
        assert isinstance(argument, ast.Name) and function is not None, where
        declared = [
            node
            for node in ast.walk(function)
            if isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == argument.id
            and isinstance(node.annotation, ast.Name)
            and node.annotation.id == "SuggestedTechnique"
        ]
        assert declared, f"{where}: declare {argument.id}: SuggestedTechnique"
