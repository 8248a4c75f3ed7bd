"""Donated buffers: a funcnet error when a consumed array is passed again, and carried state
that compiles once.

A jitted step that donates an argument may write its result into that argument's memory, after
which JAX deletes the array passed in. Passing it again fails inside JAX with "Array has been
deleted" (or "Buffer has been deleted or donated"), which names neither the step nor what to
do. :class:`DonatingStep` wraps the jitted function, catches that error and raises
:class:`DonatedArrayError` naming the step, the donated arguments, the deleted leaves and the
fix. The ``try`` costs nothing on the normal path; everything else is forwarded to the jitted
function (``lower``, ``trace``, ``_cache_size``).

The wrapper also prepares the carried arguments (params, state, optimizer state) the first
time it sees them, at no cost to later calls:

* an array that appears twice among donated leaves (``optax.lbfgs().init(params)`` puts one
  zeros array in two places) is copied: XLA refuses to donate a buffer twice (and should a
  later call bring such a tree, XLA's refusal comes before anything runs, and the call is
  made again with the copies);
* a weakly typed leaf (optax's line-search counters start as Python scalars) is made strongly
  typed, as the step's outputs are: otherwise the second call would see other types than the
  first and compile the step again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp


class DonatedArrayError(ValueError, RuntimeError):
    """An array that an earlier call donated (and JAX deleted) was passed again.

    A ``ValueError`` (a wrong value was passed) that is also a ``RuntimeError``, as JAX's own
    error for a deleted array is, so existing handlers still catch it.
    """


def _is_deleted_error(error: BaseException) -> bool:
    text = str(error)
    return "has been deleted" in text or "deleted or donated" in text


def deleted_leaves(args: Sequence[Any], names: Sequence[str]) -> list[str]:
    """Paths (``params[0].w``) of the arrays among ``args`` that JAX has deleted."""
    found = []
    for name, arg in zip(names, args, strict=False):
        for path, leaf in jax.tree_util.tree_flatten_with_path(arg)[0]:
            if isinstance(leaf, jax.Array) and leaf.is_deleted():
                found.append(name + jax.tree_util.keystr(path))
    return found


def prepared(tree: Any, seen: set[int] | None) -> Any:
    """``tree`` with weakly typed leaves made strong, and (when ``seen`` is a set of ids, which
    it extends) a copy of every array leaf seen before."""

    def prepare(leaf: Any) -> Any:
        if not isinstance(leaf, jax.Array) or leaf.is_deleted():
            return leaf
        if getattr(leaf, "weak_type", False) or (seen is not None and id(leaf) in seen):
            return jnp.array(leaf, dtype=leaf.dtype, copy=True)
        if seen is not None:
            seen.add(id(leaf))
        return leaf

    return jax.tree.map(prepare, tree)


class DonatingStep:
    """A jitted step whose donated-buffer errors become :class:`DonatedArrayError`, and whose
    carried arguments are prepared on the first call (see the module docstring).

    Args:
      jitted: the jitted function.
      where: its name in messages (``"make_train_step"``).
      names: the names of its positional arguments, for the paths of deleted leaves.
      carried: the names of the arguments it returns updated (prepared on the first call).
      donated: the names of the arguments it donates (a subset of ``carried``).
      fix: what to do instead, one sentence.
    """

    def __init__(self, jitted: Callable[..., Any], where: str, *, names: Sequence[str],
                 carried: Sequence[str], donated: Sequence[str], fix: str) -> None:  # fmt: skip
        self._jitted, self._where, self._fix = jitted, where, fix
        self._names, self._carried, self._donated = tuple(names), tuple(carried), tuple(donated)
        self._first = True
        self.__wrapped__ = jitted

    def _prepare(self, args: tuple) -> tuple:
        seen: set[int] = set()
        return tuple(
            prepared(a, seen if n in self._donated else None) if n in self._carried else a
            for n, a in zip(self._names, args, strict=False)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:  # by name (``out=``): as positional arguments, in the signature's order
            given = {**dict(zip(self._names, args, strict=False)), **kwargs}
            last = max((self._names.index(n) for n in given if n in self._names), default=-1)
            order = self._names[: last + 1]
            if set(given) != set(order):
                raise TypeError(
                    f"{self._where}: expected the arguments {self._names}, got "
                    f"{len(args)} positional and {sorted(kwargs)} by name."
                )
            args = tuple(given[n] for n in order)
        if self._first:
            args = self._prepare(args)
        try:
            out = self._jitted(*args)
        except (RuntimeError, ValueError) as e:
            if "donate the same buffer twice" in str(e):  # raised before anything ran
                return self._jitted(*self._prepare(args))
            if isinstance(e, DonatedArrayError) or not _is_deleted_error(e):
                raise
            leaves = deleted_leaves(args, self._names)
            got = f"deleted arrays at {', '.join(leaves)}" if leaves else "a deleted array"
            raise DonatedArrayError(
                f"{self._where}: expected live arrays, got {got}; the step donates "
                f"{', '.join(self._donated)}, so the arrays passed to an earlier call were "
                f"consumed by it. {self._fix}"
            ) from e
        self._first = False
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jitted, name)


__all__ = ["DonatedArrayError", "DonatingStep", "deleted_leaves", "prepared"]
