"""A tiny name -> factory registry (timm style), used for datasets, models and preparers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from shared.errors import ConfigError

T = TypeVar("T", bound=Callable)


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(fn: T) -> T:
            key = name or fn.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} registered twice")
            self._entries[key] = fn
            return fn

        return decorator

    def get(self, name: str) -> T:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
