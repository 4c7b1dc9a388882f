"""LLM tool definitions and executors over the platform's own request models.

Every tool's JSON schema is generated from the pydantic request model the CLI and the REST API
also build (``DeployRequest``, ``AnalysisRequest``, ``OptimizeRequest``, ...), so an LLM sees
exactly the fields the library validates. Executors validate arguments, call the same plain
functions as the CLI, and return either a JSON-ready result or a structured error::

    {"error": {"code": "invalid_arguments", "message": "...", "hint": "..."}}

Example:
    >>> executors = create_tool_executors()
    >>> executors["list_targets"]()["targets"][0]["name"]  # doctest: +SKIP
    'jetson'
    >>> executors["deploy_model"](model_path="cnn.onnx", input_shapes=[1, 3, 64, 64],
    ...                           target="onnxruntime", precision="fp16")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embodied_ai_architect.errors import EAAError

ToolResult = dict[str, Any]
Executor = Callable[..., ToolResult]


class ListTargetsRequest(BaseModel):
    """Arguments of list_targets."""

    model_config = ConfigDict(extra="forbid")

    available_only: bool = Field(
        default=False, description="Only list targets that can run on this host."
    )


class GetRunRequest(BaseModel):
    """Arguments of get_run."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(
        min_length=1, max_length=64, description="Run (job) id from optimize_model."
    )


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, what it does, where its request model lives, and how to run it."""

    name: str
    description: str
    request_model: str  # "module:Class", imported lazily (keeps `import tools` light)
    run: Callable[[Any], ToolResult]

    def model(self) -> type[BaseModel]:
        module, _, attr = self.request_model.partition(":")
        model = getattr(importlib.import_module(module), attr)
        assert isinstance(model, type) and issubclass(model, BaseModel)
        return model

    def input_schema(self) -> dict[str, Any]:
        """JSON schema of the request model (library-only fields removed)."""
        schema = self.model().model_json_schema()
        properties = schema.get("properties", {})
        # In-memory handles are for library callers; a JSON client cannot send one.
        properties.pop("handle", None)
        schema["type"] = "object"
        return schema


def _settings_ctx() -> Any:
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.settings import get_settings

    settings = get_settings()
    return AgentContext.from_settings(settings)


def _run_deploy(request: Any) -> ToolResult:
    from embodied_ai_architect.agents.deployment.agent import deploy_model

    result = deploy_model(request, _settings_ctx())
    payload = json.loads(result.model_dump_json(exclude={"validation": {"samples"}}))
    payload["note"] = (
        "per-sample figures are in the report file" if result.validation is not None else ""
    )
    return payload


def _run_analyze(request: Any) -> ToolResult:
    from embodied_ai_architect.agents.analysis import analyze_model

    profile = analyze_model(request, _settings_ctx())
    return dict(json.loads(profile.model_dump_json()))


def _run_optimize(request: Any) -> ToolResult:
    """Submit: check everything knowable now, create the run's job, start it, return its id.

    The run goes on in this process (the MCP server's); ``get_run`` follows it. Exiting the
    process waits for running jobs (non-daemon threads), so a run is never cut off silently.
    """
    import threading

    from embodied_ai_architect.pipeline.deployment import check_target
    from embodied_ai_architect.pipeline.orchestrator import check_paths
    from embodied_ai_architect.schemas.jobs import JobKind
    from embodied_ai_architect.schemas.results import OptimizeRequest
    from embodied_ai_architect.settings import get_settings
    from embodied_ai_architect.store import Database
    from embodied_ai_architect.store.repo import jobs

    assert isinstance(request, OptimizeRequest)
    check_target(request.constraints)  # an unavailable target is refused now, not in the run
    check_paths(request)
    settings = get_settings()
    db = Database.from_settings(settings)
    db.upgrade()
    try:
        with db.session() as session:
            run_id = jobs.create_job(
                session, kind=JobKind.OPTIMIZE, request=request.model_dump(mode="json")
            ).id
    finally:
        db.dispose()
    threading.Thread(
        target=_optimize_in_background,
        args=(request, settings, run_id),
        name=f"optimize-{run_id[:8]}",
    ).start()
    return {
        "run_id": run_id,
        "status": "running",
        "next": f"call get_run with run_id {run_id!r} until status is succeeded or failed",
    }


def _optimize_in_background(request: Any, settings: Any, run_id: str) -> None:
    from embodied_ai_architect.errors import EAAError
    from embodied_ai_architect.pipeline import run_optimize
    from embodied_ai_architect.schemas.jobs import JobStatus
    from embodied_ai_architect.store import Database
    from embodied_ai_architect.store.repo import jobs

    try:
        run_optimize(request, settings=settings, job_id=run_id, owns_job=True)
    except BaseException as exc:
        # The pipeline finishes the job once its recorder exists; a failure before that (the
        # model does not load) must still end the job, with the reason.
        error = exc.to_dict() if isinstance(exc, EAAError) else {"message": str(exc)}
        db = Database.from_settings(settings)
        try:
            with db.session() as session:  # a no-op when the run already finished its job
                jobs.finish_job(session, job_id=run_id, status=JobStatus.FAILED, error=error)
        finally:
            db.dispose()


def _run_list_targets(request: Any) -> ToolResult:
    from embodied_ai_architect.agents.deployment.targets.base import list_targets

    assert isinstance(request, ListTargetsRequest)
    statuses = [
        s.model_dump(mode="json")
        for s in list_targets()
        if s.available or not request.available_only
    ]
    return {"targets": statuses}


def _run_get_run(request: Any) -> ToolResult:
    from embodied_ai_architect.application.runs import get_run
    from embodied_ai_architect.settings import get_settings
    from embodied_ai_architect.store import Database

    assert isinstance(request, GetRunRequest)
    db = Database.from_settings(get_settings())
    db.upgrade()
    try:
        view = get_run(db, request.run_id)  # the same RunView the CLI renders and REST returns
    finally:
        db.dispose()
    return dict(json.loads(view.model_dump_json()))


TOOLS: list[ToolSpec] = [
    ToolSpec(
        "deploy_model",
        "Build a deployment artifact for an edge runtime (onnxruntime, jetson/TensorRT, openvino, "
        "tflite) at fp32/fp16/int8, and optionally validate it against ONNX Runtime FP32 "
        "(output difference, top-1 agreement, latency speedup). INT8 'static' needs calibration "
        "data. Call list_targets first to see what runs on this host.",
        "embodied_ai_architect.schemas.deployment:DeployRequest",
        _run_deploy,
    ),
    ToolSpec(
        "analyze_model",
        "Profile a model: parameters, bytes by dtype, MACs, layer census, architecture family, "
        "input/output signature, measured latency p50/p95 and optimization opportunities.",
        "embodied_ai_architect.schemas.analysis:AnalysisRequest",
        _run_analyze,
    ),
    ToolSpec(
        "optimize_model",
        "Start the optimize pipeline (analysis → planning → optimization → evaluation → "
        "deployment for constraints.target) under constraints such as max latency, max size "
        "and max accuracy drop. Returns the run id at once (bad input and an unavailable target "
        "are refused immediately); follow the run with get_run: status, progress, then the "
        "best version, per-constraint verdicts and the deployment record.",
        "embodied_ai_architect.schemas.results:OptimizeRequest",
        _run_optimize,
    ),
    ToolSpec(
        "list_targets",
        "List deployment targets with their availability on this host (and exactly why not), "
        "supported precisions, formats and devices.",
        "embodied_ai_architect.llm.tools:ListTargetsRequest",
        _run_list_targets,
    ),
    ToolSpec(
        "get_run",
        "Get an optimize run by its id: status, progress, its summary, the chosen version "
        "with its stored per-constraint verdicts, the deployment record, plans, attempts and "
        "versions (or the error when it failed).",
        "embodied_ai_architect.llm.tools:GetRunRequest",
        _run_get_run,
    ),
]


def is_error(result: ToolResult) -> bool:
    """True for the structured error shape ``{"error": {code, message, hint}}``."""
    error = result.get("error")
    return isinstance(error, dict) and "code" in error


def tool_error(code: str, message: str, hint: str = "", **details: Any) -> ToolResult:
    error: dict[str, Any] = {"code": code, "message": message, "hint": hint}
    if details:
        error["details"] = details
    return {"error": error}


def _validation_error(name: str, exc: ValidationError) -> ToolResult:
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]) or "(arguments)", "problem": err["msg"]}
        for err in exc.errors()
    ]
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return tool_error(
        "invalid_arguments",
        f"invalid arguments for {name}: {text}",
        hint=f"see the input schema of {name}",
        problems=problems,
    )


def _our_error(exc: EAAError) -> ToolResult:
    """Our error as a tool result; ``field`` is the argument it is about (hints name it)."""
    error: dict[str, Any] = {"code": exc.code, "message": exc.message, "hint": exc.hint}
    if exc.field is not None:
        error["field"] = exc.field
    return {"error": error}


def make_executor(spec: ToolSpec) -> Executor:
    """Wrap ``spec`` so it takes keyword arguments and never raises for expected failures."""

    def execute(**arguments: Any) -> ToolResult:
        try:
            model = spec.model()
        except ImportError as exc:
            return tool_error(
                "not_available",
                f"{spec.name} is not available in this installation ({exc})",
                hint="update embodied-ai-architect; the component providing it is missing",
            )
        try:
            request = model.model_validate(arguments)
        except ValidationError as exc:
            return _validation_error(spec.name, exc)
        except EAAError as exc:  # model validators raise our own errors with hints
            return _our_error(exc)
        try:
            return spec.run(request)
        except EAAError as exc:
            return _our_error(exc)
        except ImportError as exc:
            return tool_error(
                "not_available",
                f"{spec.name} cannot run: {exc}",
                hint="the component providing this tool is missing from this installation",
            )

    execute.__name__ = spec.name
    execute.__doc__ = spec.description
    return execute


def create_tool_executors() -> dict[str, Executor]:
    """``{tool name: callable(**arguments) -> result dict}`` for every tool."""
    return {spec.name: make_executor(spec) for spec in TOOLS}


def tool_definitions(style: str = "anthropic") -> list[dict[str, Any]]:
    """Tool definitions for an LLM API: ``anthropic`` (name/description/input_schema) or
    ``openai`` (type=function with parameters)."""
    if style not in ("anthropic", "openai"):
        raise ValueError(f"unknown style {style!r}; use 'anthropic' or 'openai'")
    definitions = []
    for spec in TOOLS:
        schema = spec.input_schema()
        if style == "anthropic":
            definitions.append(
                {"name": spec.name, "description": spec.description, "input_schema": schema}
            )
        else:
            definitions.append(
                {
                    "type": "function",
                    "function": {
                        "name": spec.name,
                        "description": spec.description,
                        "parameters": schema,
                    },
                }
            )
    return definitions


def get_tool(name: str) -> ToolSpec:
    for spec in TOOLS:
        if spec.name == name:
            return spec
    from embodied_ai_architect.errors import ConfigError

    raise ConfigError(
        f"unknown tool {name!r}; available: {', '.join(s.name for s in TOOLS)}",
        hint="call one of the listed tools",
    )
