"""A runtime guard: a hand-written backward must not call JAX autodiff, through any path.

:func:`check_no_autodiff` computes the op's residuals with ``fwd`` and then traces
``bwd(res, dy)`` with :func:`jax.make_jaxpr` while :func:`autodiff_forbidden` is active. The
guard patches the machinery every autodiff entry point goes through, not the public names
(a helper module's ``from jax import vjp`` binding made at import time would escape those):

* ``JVPTrace`` and ``LinearizeTrace`` (``jax._src.interpreters.ad``): ``jax.jvp``,
  ``jax.jacfwd``, ``jax.hessian`` open a JVP trace; ``jax.vjp``, ``jax.grad``,
  ``jax.value_and_grad``, ``jax.jacrev`` and ``jax.linearize`` open a linearize trace;
* ``backward_pass3``, the transposition every pullback and ``jax.linear_transpose`` run
  (a pullback made elsewhere and called inside ``bwd`` is caught there).

The trace runs in a fresh :func:`jax.make_user_context` value, so no helper compiled earlier
with ``jax.jit`` (or a ``lax.scan`` body traced earlier) is taken from a cache: every function
the backward calls is traced again under the guard.
"""

from __future__ import annotations

import contextlib
import itertools
import traceback
from collections.abc import Iterator
from typing import Any

import jax
from jax._src.interpreters import ad

from funcnet.core.op import Op
from funcnet.verify.case_context import CaseContext
from funcnet.verify.report import LeafError

_FRESH_TRACE = jax.make_user_context(None)
_TRACE_IDS = itertools.count()
_INTERNAL = ("/jax/", "/jaxlib/", "/contextlib.py", __file__)


class AutodiffInBackwardError(RuntimeError):
    """A hand-written backward called JAX autodiff."""


def _caller() -> str:
    """``file:line (in function)`` of the innermost frame outside JAX that led to autodiff."""
    for frame in reversed(traceback.extract_stack()):
        if not any(part in frame.filename for part in _INTERNAL):
            return f"{frame.filename}:{frame.lineno} (in {frame.name})"
    return "an unknown place"


def _forbid(what: str):
    def raise_instead(*args, **kwargs):
        raise AutodiffInBackwardError(f"{what} from {_caller()}")

    return raise_instead


@contextlib.contextmanager
def autodiff_forbidden() -> Iterator[None]:
    """Within this context any JAX autodiff (JVP, linearization, transposition) raises
    :class:`AutodiffInBackwardError` naming the calling line."""
    patches = [
        (ad.JVPTrace, "__init__", _forbid("a JVP trace (jax.jvp, jacfwd, hessian)")),
        (ad.LinearizeTrace, "__init__", _forbid("a linearization (jax.vjp, grad, linearize)")),
        (ad, "backward_pass3", _forbid("a transposition (a pullback, jax.linear_transpose)")),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    try:
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def autodiff_in_backward(op: Op, args: tuple, dy: Any) -> str | None:
    """Trace ``op.bwd`` at residuals of ``args`` with autodiff forbidden: ``None`` if it calls
    no autodiff, else what it calls and where (``"... from helpers.py:12 (in helper)"``)."""

    def backward(args: tuple, dy: Any) -> Any:
        _, res = op.fwd(*args)
        with autodiff_forbidden():
            return op.bwd(res, dy)

    try:
        with _FRESH_TRACE(next(_TRACE_IDS)):
            jax.make_jaxpr(backward)(args, dy)
    except AutodiffInBackwardError as e:
        return str(e)
    return None


def check_no_autodiff(ctx: CaseContext) -> list[LeafError]:
    """Trace the op's ``bwd`` with autodiff forbidden; a call to it fails the check."""
    found = autodiff_in_backward(ctx.op, ctx.args, ctx.dy)
    if found is None:
        return [LeafError("no_autodiff", "bwd", 0.0, 0.0, (), 0.0)]
    note = f"the hand-written backward calls JAX autodiff, {found}"
    return [LeafError("no_autodiff", "bwd", float("inf"), float("inf"), (), 0.0, note)]
