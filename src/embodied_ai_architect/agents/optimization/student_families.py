"""Model families a student can be derived from: read a module's configuration, shrink it, search it.

Distillation (``student: smaller``) and NAS need to build other members of a teacher's family.
A :class:`StudentFamily` reads the constructor kwargs back from a built module (our toy
families do not store them), scales them down, and declares the NAS search space. User models
either register a family with :func:`register_student_family` or expose a
``student_factory(scale: float) -> nn.Module`` method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from embodied_ai_architect.errors import ConfigError

Kwargs = dict[str, Any]


@dataclass(frozen=True)
class StudentFamily:
    """How to rebuild, shrink and search one architecture family."""

    name: str
    build: Callable[..., nn.Module]
    read: Callable[[Any], Kwargs]  # constructor kwargs recovered from a built module
    scaled: tuple[str, ...]  # kwargs multiplied by the width scale for a "smaller" student
    search_space: dict[str, list[Any]] = field(default_factory=dict)
    valid: Callable[[Kwargs], bool] = lambda kwargs: True

    def smaller(self, module: nn.Module, scale: float) -> nn.Module:
        kwargs = self.read(module)
        for name in self.scaled:
            kwargs[name] = max(_minimum(name, kwargs), round(kwargs[name] * scale))
        if "dim" in kwargs and "heads" in kwargs:  # attention width must split into heads
            kwargs["dim"] = max(kwargs["heads"], kwargs["dim"] // kwargs["heads"] * kwargs["heads"])
        return self.build(**kwargs)


def _minimum(name: str, kwargs: Kwargs) -> int:
    return kwargs.get("heads", 1) if name == "dim" else 1


_FAMILIES: dict[type, StudentFamily] = {}


def register_student_family(cls: type, family: StudentFamily) -> None:
    """Make ``cls`` usable as a distillation / NAS teacher (refuses duplicates)."""
    if cls in _FAMILIES:
        raise ConfigError(
            f"a student family for {cls.__name__} is already registered",
            hint="register each model class once",
        )
    _FAMILIES[cls] = family


def family_of(module: nn.Module) -> StudentFamily:
    """The family of ``module`` or a ConfigError saying how to make it derivable."""
    _register_builtins()
    family = _FAMILIES.get(type(module))
    if family is None:
        known = ", ".join(sorted(f.name for f in _FAMILIES.values()))
        raise ConfigError(
            f"cannot derive a smaller student from a {type(module).__name__}: its family is "
            f"unknown (known: {known})",
            hint="give the model a student_factory(scale) method, register a StudentFamily "
            "with register_student_family, or use student='pruned'",
        )
    return family


def smaller_student(module: nn.Module, scale: float) -> nn.Module:
    """A freshly initialised, narrower member of ``module``'s family."""
    factory = getattr(module, "student_factory", None)
    if callable(factory):
        student = factory(scale)
        if not isinstance(student, nn.Module):
            raise ConfigError(
                f"student_factory returned a {type(student).__name__}, not an nn.Module",
                hint="student_factory(scale) must build and return the student module",
            )
        return student
    return family_of(module).smaller(module, scale)


def _linear_widths(sequential: nn.Sequential) -> list[nn.Linear]:
    return [m for m in sequential if isinstance(m, nn.Linear)]


def _register_builtins() -> None:
    if _FAMILIES:
        return
    from embodied_ai_architect.testing import models as toy

    register_student_family(
        toy.SmallCNN,
        StudentFamily(
            "small_cnn",
            toy.SmallCNN,
            lambda m: {
                "in_channels": m.in_channels,
                "image_size": m.image_size,
                "num_classes": m.classifier[-1].out_features,
                "width": m.features[0].out_channels,
            },
            scaled=("width",),
            search_space={"width": [4, 6, 8, 12, 16, 24, 32]},
        ),
    )
    register_student_family(
        toy.ResNet18,
        StudentFamily(
            "resnet18",
            toy.ResNet18,
            lambda m: {
                "num_classes": m.fc.out_features,
                "width": m.conv1.out_channels,
                "image_size": m.image_size,
                "in_channels": m.in_channels,
            },
            scaled=("width",),
            search_space={"width": [8, 16, 24, 32, 48, 64]},
        ),
    )
    register_student_family(
        toy.TinyViT,
        StudentFamily(
            "vit",
            toy.TinyViT,
            lambda m: {
                "image_size": m.image_size,
                "patch_size": m.patch_embed.kernel_size[0],
                "dim": m.patch_embed.out_channels,
                "depth": len(m.blocks),
                "heads": m.blocks[0].attn.num_heads,
                "num_classes": m.head.out_features,
                "in_channels": m.in_channels,
            },
            scaled=("dim",),
            search_space={"dim": [32, 48, 64, 96, 128], "depth": [1, 2, 3, 4], "heads": [1, 2, 4]},
            valid=lambda k: k["dim"] % k["heads"] == 0,
        ),
    )
    register_student_family(
        toy.MLPPolicy,
        StudentFamily(
            "mlp_policy",
            toy.MLPPolicy,
            lambda m: {
                "obs_dim": m.obs_dim,
                "act_dim": m.action_head.out_features,
                "hidden": m.action_head.in_features,
                "depth": len(_linear_widths(m.backbone)),
            },
            scaled=("hidden",),
            search_space={"hidden": [16, 32, 64, 128, 256], "depth": [1, 2, 3, 4]},
        ),
    )
    register_student_family(
        toy.TransformerPolicy,
        StudentFamily(
            "transformer_policy",
            toy.TransformerPolicy,
            lambda m: {
                "obs_dim": m.obs_dim,
                "act_dim": m.action_head.out_features,
                "dim": m.obs_proj.out_features,
                "depth": len(m.blocks),
                "heads": m.blocks[0].attn.num_heads,
                "horizon": m.horizon,
            },
            scaled=("dim",),
            search_space={"dim": [16, 32, 48, 64, 96], "depth": [1, 2, 3], "heads": [1, 2, 4]},
            valid=lambda k: k["dim"] % k["heads"] == 0,
        ),
    )
    register_student_family(
        toy.TinyDetector,
        StudentFamily(
            "detector",
            toy.TinyDetector,
            lambda m: {
                "num_classes": m.cls_head.out_channels,
                "width": m.backbone[0].out_channels,
                "image_size": m.image_size,
                "in_channels": m.in_channels,
            },
            scaled=("width",),
            search_space={"width": [4, 8, 12, 16, 24, 32]},
        ),
    )
