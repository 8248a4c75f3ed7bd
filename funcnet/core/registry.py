"""The op registry: every op factory and the sample cases it is verified on.

An op factory is declared with :func:`op_factory`; its sample cases are added with
:func:`add_cases`. The verifier, ``funcnet check`` and the contract test all enumerate this
registry, so a factory that was declared without sample cases is reported, never skipped.

A sample case says how to draw each argument (shape, range, kind) rather than holding arrays,
so registering costs nothing at import time and the verifier draws the values in the dtype it
is checking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

from funcnet.core.op import Op

ArgKind = Literal["real", "positive", "simplex", "int", "symmetric"]


class Arg(NamedTuple):
    """How to draw one argument of a sample case.

    Attributes:
      shape: the argument's shape.
      kind: ``"real"`` uniform in ``[low, high]``; ``"positive"`` uniform in ``[low, high]`` with
        ``low > 0``; ``"simplex"`` rows of probabilities summing to one along the last axis;
        ``"int"`` integers in ``[0, high)`` (no cotangent); ``"symmetric"`` symmetric matrices
        over the last two axes (``n × n``) with eigenvalues spread over ``[low, high]``, one in
        each ``n``-th of the range away from its edges, so gaps are at least ``(high − low)/2n``.
      low, high: the range (``high`` is the exclusive bound for ``"int"``).
      avoid: points (kinks) the values are kept at least ``margin`` away from.
      margin: distance kept from each point in ``avoid``.
    """

    shape: tuple[int, ...]
    kind: ArgKind = "real"
    low: float = -2.0
    high: float = 2.0
    avoid: tuple[float, ...] = ()
    margin: float = 0.05


class Case(NamedTuple):
    """One configuration of an op and the arguments it is checked at."""

    label: str
    op: Op
    args: tuple[Arg, ...]
    second_order: bool = False


_FACTORIES: dict[str, Callable[..., Op]] = {}
_CASES: dict[str, list[Callable[[], list[Case]]]] = {}


def op_factory(name: str) -> Callable[[Callable[..., Op]], Callable[..., Op]]:
    """Declare ``factory`` as the builder of the op called ``name`` (a decorator)."""

    def declare(factory: Callable[..., Op]) -> Callable[..., Op]:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"registry: an op factory named {name!r} is already declared.")
        _FACTORIES[name] = factory
        return factory

    return declare


def add_cases(name: str, make_cases: Callable[[], list[Case]]) -> None:
    """Add sample cases for the op called ``name``; they are built when first asked for."""
    _CASES.setdefault(name, []).append(make_cases)


def op_names() -> list[str]:
    """Every declared op factory and every op with sample cases, sorted."""
    return sorted(set(_FACTORIES) | set(_CASES))


def cases(name: str) -> list[Case]:
    """The sample cases of op ``name`` (an empty list for a factory that has none)."""
    if name not in _FACTORIES and name not in _CASES:
        raise KeyError(f"registry: no op named {name!r}; known ops: {', '.join(op_names())}.")
    built = [case for make in _CASES.get(name, []) for case in make()]
    for case in built:
        if case.op.name != name:
            raise ValueError(
                f"registry: a sample case of {name!r} ({case.label}) builds op {case.op.name!r}."
            )
    return built


def missing_cases() -> list[str]:
    """Declared op factories that have no sample case: each is a contract violation."""
    return [name for name in op_names() if not cases(name)]


def _unregister(name: str) -> None:
    """Remove an op from the registry (for tests that plant ops)."""
    _FACTORIES.pop(name, None)
    _CASES.pop(name, None)
