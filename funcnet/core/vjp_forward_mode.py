"""Forward mode reaching an op's custom VJP (the ``"manual"`` path): detected early and named.

``jax.custom_vjp`` defines reverse mode only. JAX raises at once only when a JVP is evaluated
eagerly; under ``jax.jit`` it stages the failing tangent rule and raises when compiling, far
from the op. The op checks before calling its custom VJP and raises :class:`ForwardModeError`
naming itself. (The ``"manual_jvp"`` path, docs/forward_mode.md, supports forward mode.)
"""

from __future__ import annotations

import jax

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


def under_jvp(args: tuple) -> bool:
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


def forward_mode_error(name: str) -> ForwardModeError:
    return ForwardModeError(
        f"{name}: forward-mode differentiation (jax.jvp, jax.jacfwd, jax.linearize) cannot pass "
        "through a hand-written backward, which defines reverse mode only; run the model with "
        'backward="manual_jvp" (hand-written JVPs, docs/forward_mode.md) or "autodiff" for '
        "forward mode, or use reverse mode (jax.grad, jax.vjp, jax.jacrev; jax.hessian works "
        "too). See docs/transformations.md."
    )


def is_jax_forward_mode_error(error: Exception) -> bool:
    """Whether ``error`` is JAX's own error for forward mode reaching a custom VJP."""
    return _JAX_FORWARD_MODE in str(error)
