"""The op: the unit of differentiation in funcnet.

An op bundles three pure functions over array arguments:

* ``forward(*args) -> y`` — plain ``jax.numpy``; JAX autodiff through it is the oracle;
* ``fwd(*args) -> (y, res)`` — the same computation, also returning the residuals the
  backward needs (and only those);
* ``bwd(res, dy) -> (dx_1, ..., dx_n)`` — the hand-written vector-Jacobian product. It never
  calls JAX autodiff. ``None`` stands for a zero cotangent (integer arguments get one).

``jax.custom_vjp`` binds ``fwd`` and ``bwd`` into the *manual* path; the *autodiff* path is
``forward`` itself. Both compute the same forward values, so a model can be run either way
and compared. Configuration (axis, epsilon, ...) is closed over by the factory that builds the
op, never passed as an argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import jax

Backward = Literal["manual", "autodiff"]
BACKWARDS: tuple[str, ...] = ("manual", "autodiff")


def check_backward(backward: Any, where: str) -> None:
    """Raise a ValueError unless ``backward`` is one of ``"manual"`` or ``"autodiff"``."""
    if backward not in BACKWARDS:
        raise ValueError(f"{where}: expected backward to be one of {BACKWARDS}, got {backward!r}.")


@dataclasses.dataclass(frozen=True)
class Op:
    """A differentiable function with a reference forward and a hand-written backward.

    An op is an ordinary callable, so ``jax.jit(op)`` works (pass
    ``static_argnames="backward"`` to choose the path under ``jit``).

    Attributes:
      name: snake_case name of the factory that built it (``"dense"``, ``"relu"``, ...).
      forward: the reference forward, ``(*args) -> y``.
      fwd: ``(*args) -> (y, residuals)``.
      bwd: ``(residuals, dy) -> tuple of cotangents``, one per argument.
      manual: ``forward``'s values with ``bwd`` as its VJP (``jax.custom_vjp``).
    """

    name: str
    forward: Callable[..., Any]
    fwd: Callable[..., tuple[Any, Any]]
    bwd: Callable[[Any, Any], tuple[Any, ...]]
    manual: Callable[..., Any]

    def __call__(self, *args: Any, backward: Backward = "manual") -> Any:
        """Apply the op, differentiated by the hand-written backward or by JAX autodiff."""
        check_backward(backward, self.name)
        return self.manual(*args) if backward == "manual" else self.forward(*args)

    def with_bwd(self, bwd: Callable[[Any, Any], tuple[Any, ...]]) -> Op:
        """The same op with another backward (used to test that the verifier catches bugs)."""
        return make_op(self.name, self.forward, self.fwd, bwd)

    def renamed(self, name: str) -> Op:
        """The same op under another name (a copy registered elsewhere, a planted bug)."""
        return dataclasses.replace(self, name=name)


def make_op(
    name: str,
    forward: Callable[..., Any],
    fwd: Callable[..., tuple[Any, Any]],
    bwd: Callable[[Any, Any], tuple[Any, ...]],
) -> Op:
    """Bind ``fwd``/``bwd`` with ``jax.custom_vjp`` and return the :class:`Op`."""
    manual = jax.custom_vjp(forward)
    manual.defvjp(fwd, bwd)
    return Op(name=name, forward=forward, fwd=fwd, bwd=bwd, manual=manual)
