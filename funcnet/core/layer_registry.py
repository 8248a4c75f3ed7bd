"""The layer registry: every layer factory and the sample configurations it is checked on.

As ops have sample cases (:mod:`funcnet.core.registry`), layers have sample configurations:
a factory is declared with :func:`layer_factory`, its configurations are added with
:func:`add_layer_cases` at the bottom of the layer's file, and one contract test runs every
registered layer through the same checks (shapes, manual vs autodiff vs finite differences,
jit, vmap over examples, no retracing, bad input). A declared factory without a configuration
fails that test, as an op without sample cases does.

A configuration holds how to draw the input (an :class:`~funcnet.core.registry.Arg` whose
shape includes the batch axes, or a tuple of them for a layer fed several arrays), never
arrays, so registering costs nothing at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from funcnet.core.layer import Layer
from funcnet.core.registry import Arg


class LayerCase(NamedTuple):
    """One configuration of a layer and the input it is checked on.

    Attributes:
      label: a short name for the configuration.
      layer: the layer, built by its factory.
      input: how to draw ``x``: an :class:`Arg` whose shape includes the batch axes (at least
        one), or a tuple of them when the layer takes a tuple (``parallel``).
      train: apply in training mode (dropout's mask, batch norm's batch statistics); the
        contract test then passes a fixed ``key``. A training-mode layer may couple the
        examples of one call (one mask drawn for all, statistics over all), so ``vmap`` over an
        added axis is compared with separate calls rather than with one call on the stack.
      make_input: builds apply's input from the drawn array when it is not the array itself
        (a cell's ``(x, state)``, a ``RecurrentInput`` with a mask); it indexes with ``...``,
        so it works on one example under ``vmap`` too. ``init`` is then given the shape of the
        built input's first leaf (its ``x``).
    """

    label: str
    layer: Layer
    input: Arg | tuple[Any, ...]
    train: bool = False
    make_input: Callable[[Any], Any] | None = None


_FACTORIES: dict[str, Callable[..., Layer]] = {}
_CASES: dict[str, list[Callable[[], list[LayerCase]]]] = {}


def layer_factory(name: str) -> Callable[[Callable[..., Layer]], Callable[..., Layer]]:
    """Declare ``factory`` as the builder of the layer called ``name`` (a decorator)."""

    def declare(factory: Callable[..., Layer]) -> Callable[..., Layer]:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"layer registry: a layer factory named {name!r} is already declared.")
        _FACTORIES[name] = factory
        return factory

    return declare


def add_layer_cases(name: str, make_cases: Callable[[], list[LayerCase]]) -> None:
    """Add sample configurations for the layer called ``name``; built when first asked for."""
    _CASES.setdefault(name, []).append(make_cases)


def layer_names() -> list[str]:
    """Every declared layer factory and every layer with configurations, sorted."""
    return sorted(set(_FACTORIES) | set(_CASES))


def layer_cases(name: str) -> list[LayerCase]:
    """The sample configurations of layer ``name`` (empty for a factory that has none)."""
    if name not in _FACTORIES and name not in _CASES:
        raise KeyError(
            f"layer registry: no layer named {name!r}; known layers: {', '.join(layer_names())}."
        )
    return [case for make in _CASES.get(name, []) for case in make()]


def missing_layer_cases() -> list[str]:
    """Declared layer factories without a configuration: each is a contract violation."""
    return [name for name in layer_names() if not layer_cases(name)]


def _unregister_layer(name: str) -> None:
    """Remove a layer from the registry (for tests that plant layers)."""
    _FACTORIES.pop(name, None)
    _CASES.pop(name, None)
