"""Config-field helpers shared by technique configs.

A field the planner or NAS may vary declares its candidate values next to its default
(``searched``); ``TechniqueConfig.search_space`` reads them back from ``SEARCH_KEY``.

Example:
    >>> class MyConfig(TechniqueConfig):
    ...     ratio: float = searched(0.5, gt=0, lt=1, description="...", search=[0.3, 0.5])
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

SEARCH_KEY = "search"  # json_schema_extra key holding a field's candidate values


def searched(default: Any, *, description: str, search: list[Any], **bounds: Any) -> Any:
    """A config field the planner or NAS may vary: its default, description and candidates."""
    return Field(default, description=description, json_schema_extra={SEARCH_KEY: search}, **bounds)


def searched_flag(default: bool, *, description: str) -> Any:
    """A boolean field the planner or NAS may flip: both values are candidates, the default first."""
    return searched(default, description=description, search=[default, not default])


def calibration_path_field() -> Any:
    """The ``calibration_path`` field of every technique that calibrates (``collect_samples``
    reads it when the run gives the technique no calibration provider)."""
    return Field(
        default=None,
        description="Folder of images or .npy/.npz with inputs, used when the run has no "
        "calibration provider.",
    )


def thread_count_field(what: str) -> Any:
    """The ``intra_op_threads`` field of the runtime-settings techniques (``ort_threads``,
    ``openvino_threads``): one name, so the planner's threads step sets it for either runtime."""
    return searched(
        1,
        ge=1,
        le=256,
        description=f"{what}. The planner tries every count below the run's --threads (1, 2, "
        "4, …); 1 avoids the thread pool's synchronisation, which dominates small models at "
        "batch 1.",
        search=[1, 2, 4, 8],
    )
