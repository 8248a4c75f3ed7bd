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
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

Backward = Literal["manual", "autodiff"]
BACKWARDS: tuple[str, ...] = ("manual", "autodiff")


# JAX's message when forward mode (jvp, jacfwd, linearize) reaches a custom_vjp function.
_JAX_FORWARD_MODE = "can't apply forward-mode autodiff (jvp) to a custom_vjp function"

try:  # JAX internals, read only to name the error early; without them JAX's own error stands
    from jax._src.core import trace_ctx as _trace_ctx
    from jax._src.interpreters.ad import JVPTrace as _JVPTrace
    from jax._src.interpreters.ad import JVPTracer as _JVPTracer
except ImportError:  # pragma: no cover
    _trace_ctx = None


class ForwardModeError(TypeError):
    """Forward-mode differentiation reached an op's hand-written (reverse-mode) backward."""


def _under_jvp(args: tuple) -> bool:
    """Whether the op is called under a JVP (``jax.jvp``, ``jax.jacfwd``) with a tangent in.

    JAX raises at once only when the JVP is evaluated eagerly; under ``jax.jit`` it stages the
    failing tangent rule and raises when compiling, far from the op. Reverse mode and
    ``jax.hessian`` call ops under a linearize trace, which this does not match.
    """
    if _trace_ctx is None:
        return False
    trace = _trace_ctx.trace
    return type(trace) is _JVPTrace and any(
        isinstance(a, _JVPTracer) and a._trace is trace for a in jax.tree.leaves(args)
    )


def _forward_mode_error(name: str) -> ForwardModeError:
    return ForwardModeError(
        f"{name}: forward-mode differentiation (jax.jvp, jax.jacfwd, jax.linearize) cannot pass "
        "through a hand-written backward, which defines reverse mode only; run the model with "
        'backward="autodiff" for forward mode, or use reverse mode (jax.grad, jax.vjp, '
        "jax.jacrev; jax.hessian works too). See docs/transformations.md."
    )


def check_backward(backward: Any, where: str) -> None:
    """Raise unless ``backward`` is one of ``"manual"`` or ``"autodiff"``: a TypeError for
    something other than a string, a ValueError for another string."""
    if not isinstance(backward, str):
        raise TypeError(f"{where}: expected backward to be one of {BACKWARDS}, got {backward!r}.")
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
      unused_outputs: ``bwd`` receives ``None`` for an output nothing differentiates.
    """

    name: str
    forward: Callable[..., Any]
    fwd: Callable[..., tuple[Any, Any]]
    bwd: Callable[[Any, Any], tuple[Any, ...]]
    manual: Callable[..., Any]
    unused_outputs: bool = False

    def __call__(self, *args: Any, backward: Backward = "manual") -> Any:
        """Apply the op, differentiated by the hand-written backward or by JAX autodiff."""
        check_backward(backward, self.name)
        if backward == "autodiff":
            return self.forward(*args)
        if _under_jvp(args):
            raise _forward_mode_error(self.name)
        try:  # free unless it raises (JAX raises here for an eager JVP)
            return self.manual(*args)
        except TypeError as e:
            if _JAX_FORWARD_MODE not in str(e):
                raise
            raise _forward_mode_error(self.name) from e

    def with_bwd(self, bwd: Callable[[Any, Any], tuple[Any, ...]]) -> Op:
        """The same op with another backward (used to test that the verifier catches bugs)."""
        return make_op(self.name, self.forward, self.fwd, bwd, unused_outputs=self.unused_outputs)

    def renamed(self, name: str) -> Op:
        """The same op under another name (a copy registered elsewhere, a planted bug)."""
        return dataclasses.replace(self, name=name)


def make_op(
    name: str,
    forward: Callable[..., Any],
    fwd: Callable[..., tuple[Any, Any]],
    bwd: Callable[[Any, Any], tuple[Any, ...]],
    *,
    unused_outputs: bool = False,
) -> Op:
    """Bind ``fwd``/``bwd`` with ``jax.custom_vjp`` and return the :class:`Op`.

    With ``unused_outputs=True`` (for ops with several outputs, e.g. batch norm's
    ``(y, μ, σ²)``), an output whose cotangent is known to be zero — nothing downstream
    differentiates it, as under ``lax.stop_gradient`` — reaches ``bwd`` as ``None`` rather than
    as an array of zeros, so its terms are skipped instead of computed as ``0·(…)``, which XLA
    may not drop (``0·x`` is not 0 for ``x = inf``).
    """
    manual = jax.custom_vjp(forward)
    if unused_outputs:

        def fwd_values(*primals):
            return fwd(*(p.value for p in primals))

        def bwd_known_zeros(res, cotangents):
            known = jax.tree.map(
                lambda c: None if _is_symbolic_zero(c) else c, cotangents, is_leaf=_is_symbolic_zero
            )
            return bwd(res, known)

        manual.defvjp(fwd_values, bwd_known_zeros, symbolic_zeros=True)
    else:
        manual.defvjp(fwd, bwd)
    return Op(name, forward, fwd, bwd, manual, unused_outputs)


def _is_symbolic_zero(c: Any) -> bool:
    return isinstance(c, SymbolicZero)


def shape_witness(shape: tuple[int, ...]) -> jax.Array:
    """An empty array whose shape records ``shape``: a residual that carries only a static shape
    (residuals must be arrays; this one costs no memory)."""
    return jnp.zeros((0, *shape), jnp.bool_)
