"""Calibration samples for data-aware techniques, from the context's provider or a config path."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from embodied_ai_architect.errors import ConfigError, InputError
from embodied_ai_architect.modelio.handle import Feeds, ModelHandle

if TYPE_CHECKING:
    from embodied_ai_architect.agents.optimization.base import TechniqueContext

_HINT = (
    "give representative inputs as `calibration_data` (a folder of images or an .npy/.npz "
    "file), set calibration_path in the technique config, or put a CalibrationProvider in "
    "TechniqueContext.calibration; random data would calibrate the ranges wrongly"
)


class CalibratedConfig(Protocol):
    """A technique config that calibrates: it names its technique and may name its data."""

    @property
    def technique(self) -> str: ...

    @property
    def calibration_path(self) -> str | None: ...


def collect_samples(
    handle: ModelHandle, ctx: TechniqueContext, config: CalibratedConfig, num_samples: int
) -> list[Feeds]:
    """Up to ``num_samples`` single-sample feeds (batch 1), validated against the model inputs.

    The context's provider wins over ``config.calibration_path``; with neither, a ConfigError
    says how to supply data (static calibration without data is never faked).
    """
    technique, calibration_path = config.technique, config.calibration_path
    provider = ctx.calibration
    if provider is None and calibration_path:
        from embodied_ai_architect.data.calibration import provider_from_path

        try:
            provider = provider_from_path(
                Path(calibration_path), handle.inputs, num_samples=num_samples
            )
        except InputError as exc:
            raise ConfigError(
                f"{technique}: calibration data unusable: {exc.message}", hint=exc.hint
            ) from exc
    if provider is None:
        raise ConfigError(
            f"{technique} needs calibration data but none was given",
            hint=_HINT,
            field="calibration_data",
        )

    expected = {spec.name: spec for spec in handle.inputs}
    samples: list[Feeds] = []
    for sample in provider.samples():
        if len(samples) >= num_samples:
            break
        missing = sorted(set(expected) - set(sample))
        if missing:
            raise ConfigError(
                f"{technique}: calibration samples lack the model inputs {missing} "
                f"(they have {sorted(sample)})",
                hint="name the calibration arrays after the model's inputs",
            )
        samples.append(
            {
                name: np.ascontiguousarray(sample[name], dtype=np.dtype(spec.dtype))
                for name, spec in expected.items()
            }
        )
    if not samples:
        raise ConfigError(
            f"{technique}: the calibration provider yielded 0 samples",
            hint=_HINT,
            field="calibration_data",
        )
    return samples


def batched(samples: list[Feeds], handle: ModelHandle, batch_size: int = 16) -> list[Feeds]:
    """Stack samples into batches when every input has a dynamic batch axis (faster calibration);
    otherwise keep them one by one."""
    dynamic = all(spec.shape and not isinstance(spec.shape[0], int) for spec in handle.inputs)
    if not dynamic or batch_size <= 1:
        return samples
    return [
        {
            name: np.concatenate([s[name] for s in samples[start : start + batch_size]], axis=0)
            for name in samples[0]
        }
        for start in range(0, len(samples), batch_size)
    ]


def make_ort_reader(feeds: list[Feeds]) -> Any:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over in-memory feeds.

    Holds a list (not a generator) so ORT's GPTQ path can deep-copy and replay it.
    """
    from onnxruntime.quantization import CalibrationDataReader

    class _FeedsReader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, items: list[Feeds]):
            self.items = items
            self.position = 0

        def get_next(self) -> Feeds | None:
            if self.position >= len(self.items):
                return None
            self.position += 1
            return self.items[self.position - 1]

        def rewind(self) -> None:
            self.position = 0

        def __len__(self) -> int:
            return len(self.items)

        def __iter__(self):  # type: ignore[no-untyped-def]
            # ORT's GPTQ data loader iterates the reader directly.
            return iter(self.items)

    return _FeedsReader(feeds)
