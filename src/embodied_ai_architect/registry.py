"""A small typed registry: refuses duplicates, lists what exists when a lookup fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from embodied_ai_architect.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → entry mapping for techniques, targets, evaluators, scene families, ...

    Example:
        >>> targets: Registry[type] = Registry("target", decorator="@register_target")
        >>> targets.add("onnxruntime", object)
    """

    def __init__(self, kind: str, *, decorator: str, entry_point_group: str | None = None):
        self.kind = kind
        self.decorator = decorator
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T] = {}
        self._plugins_loaded = False

    def load_plugins(self) -> Registry[T]:
        """Import every module declared under the entry-point group, once (built-ins included:
        they register through the same mechanism as third-party plugins)."""
        if not self._plugins_loaded and self.entry_point_group is not None:
            import importlib
            from importlib.metadata import entry_points

            for entry in sorted(entry_points(group=self.entry_point_group), key=lambda e: e.name):
                importlib.import_module(entry.value)
            self._plugins_loaded = True
        return self

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ConfigError(
                f"{self.kind} {name!r} is already registered",
                hint=f"choose another name for the new {self.kind}",
            )
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def remove(self, name: str) -> T:
        """Unregister ``name`` (plugins unloading, tests restoring the registry)."""
        try:
            return self._entries.pop(name)
        except KeyError:
            raise ConfigError(
                f"{self.kind} {name!r} is not registered", hint="nothing to remove"
            ) from None

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            available = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(
                f"unknown {self.kind} {name!r}; available: {available}",
                hint=f"pick one of the available names or register one with {self.decorator}",
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        yield from sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
