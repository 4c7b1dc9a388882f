"""Input signatures the user completes: ``--input NAME=SHAPE[:DTYPE][=VALUE]``.

Real exports leave dimensions dynamic (a text recogniser's width, an RNN's sequence length), take
several inputs (audio, recurrent state, a sample rate) and some of them are integer scalars. When
a shape cannot be derived, the error lists every input with what is known and a ready-to-paste
``--input`` per input, instead of naming the first unknown dimension only.
"""

from __future__ import annotations

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.schemas.loading import InputOverride
from embodied_ai_architect.schemas.tensors import TensorSpec, is_batch_name

_SPATIAL_GUESS = 224  # an image side that fits most vision backbones' strides
_OTHER_GUESS = 16


def parse_input_override(text: str) -> InputOverride:
    """Parse ``NAME=SHAPE[:DTYPE][=VALUE]``; an empty SHAPE is a scalar."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip():
        raise InputError(
            f"`inputs` entry {text!r} is not NAME=SHAPE[:DTYPE][=VALUE]",
            hint="e.g. `inputs` x=1,3,224,224 or `inputs` sr=:int64=16000 (scalar)",
            field="inputs",
        )
    spec, _, value_text = rest.partition("=")
    shape_text, _, dtype = spec.partition(":")
    try:
        shape = [int(p) for p in shape_text.replace("x", ",").split(",") if p.strip()]
        value = float(value_text) if value_text else None
        return InputOverride(name=name.strip(), shape=shape, dtype=dtype or None, value=value)
    except ValueError as exc:
        raise InputError(
            f"`inputs` entry {text!r}: {str(exc).splitlines()[-1] if str(exc) else exc}",
            hint="write NAME=1,3,224,224, NAME=2,1,128:float32 or NAME=:int64=16000",
            field="inputs",
        ) from None


def parse_input_overrides(values: list[str] | None) -> list[InputOverride] | None:
    return [parse_input_override(v) for v in values] if values else None


def apply_overrides(
    specs: list[TensorSpec], overrides: list[InputOverride] | None
) -> list[TensorSpec]:
    """Specs with the user's shapes, dtypes and values applied by input name."""
    if not overrides:
        return specs
    by_name = {spec.name: spec for spec in specs}
    unknown = [o.name for o in overrides if o.name not in by_name]
    if unknown:
        raise InputError(
            f"the model has no input named {', '.join(map(repr, unknown))}",
            hint=f"its inputs are: {describe_inputs(specs)}",
        )
    for override in overrides:
        spec = by_name[override.name]
        if spec.shape and len(spec.shape) != len(override.shape):
            raise InputError(
                f"input {spec.name!r} has rank {len(spec.shape)} ({spec.shape}) but "
                f"{override.shape} has rank {len(override.shape)}",
                hint=f"e.g. {example_input(spec)}",
                field="inputs",
            )
        for dim, given in zip(spec.shape, override.shape, strict=False):
            if isinstance(dim, int) and dim > 0 and dim != given:
                raise InputError(
                    f"input {spec.name!r} has a fixed shape {spec.shape}; "
                    f"{override.shape} does not match",
                    hint=f"keep the fixed dimensions: {example_input(spec)}",
                    field="inputs",
                )
        update: dict[str, object] = {"shape": list(override.shape)}
        if override.dtype is not None:
            update["dtype"] = override.dtype
        if override.value is not None:
            update["value"] = override.value
        by_name[spec.name] = spec.model_copy(update=update)
    return [by_name[spec.name] for spec in specs]


def is_concrete(spec: TensorSpec) -> bool:
    """True when every dimension but the batch (resolved later) is a positive size."""
    return all((isinstance(d, int) and d > 0) or is_batch_name(d) for d in spec.shape[1:])


def require_concrete(specs: list[TensorSpec], *, what: str = "this model") -> None:
    """Raise one error listing every input when any non-batch dimension is unknown."""
    if all(is_concrete(spec) for spec in specs):
        return
    missing = [spec.name for spec in specs if not is_concrete(spec)]
    raise InputError(
        f"{what} has {len(specs)} input(s) and the shape of {', '.join(map(repr, missing))} "
        f"cannot be derived: {describe_inputs(specs)}",
        hint="give each input, e.g. " + " ".join(example_input(spec) for spec in specs),
        field="inputs",
        details={"inputs": [spec.model_dump() for spec in specs]},
    )


def describe_inputs(specs: list[TensorSpec]) -> str:
    """``x float32 [batch, 3, ?, ?]; sr int64 scalar`` — what is known of each input."""
    parts = []
    for spec in specs:
        dims = "scalar" if not spec.shape else "[" + ", ".join(map(str, spec.shape)) + "]"
        parts.append(f"{spec.name} {spec.dtype} {dims}")
    return "; ".join(parts)


def example_input(spec: TensorSpec) -> str:
    """A ready-to-paste `inputs` entry for ``spec`` (field-named, so the CLI shows its flag):
    known sizes kept, unknown ones guessed."""
    dims: list[int] = []
    image_like = len(spec.shape) == 4 and spec.shape[1] in (1, 3, 4)
    for index, dim in enumerate(spec.shape):
        if isinstance(dim, int) and dim > 0:
            dims.append(dim)
        elif index == 0 or is_batch_name(dim):
            dims.append(1)
        else:
            dims.append(_SPATIAL_GUESS if image_like and index >= 2 else _OTHER_GUESS)
    dtype = "" if spec.dtype == "float32" else f":{spec.dtype}"
    value = "=VALUE" if not spec.shape and spec.value is None else ""
    return f"`inputs` {spec.name}={','.join(map(str, dims))}{dtype}{value}"
