"""Owns the name -> factory registries through which a config names models, augmentations, losses.

A :class:`Registry` maps a lower-case name to a callable; looking up an unknown name raises
:class:`~distill.errors.DistillError` listing the accepted names, so that a config typo is a
one-line error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .errors import DistillError

__all__ = ["Registry"]


class Registry:
    """A named collection of factories.

    Parameters
    ----------
    kind : str
        What the entries are (``"model"``, ``"augmentation"``...), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Return a decorator that registers its argument under ``name``."""

        def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
            key = name.lower()
            if key in self._entries:
                raise KeyError(f"{self.kind} {name!r} is registered twice")
            self._entries[key] = factory
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., Any]:
        """Return the factory registered as ``name``; raise ``DistillError`` if there is none."""
        key = str(name).lower()
        if key not in self._entries:
            raise DistillError(
                f"unknown {self.kind} {name!r} (known: {', '.join(sorted(self._entries))})"
            )
        return self._entries[key]

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
