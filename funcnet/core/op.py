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

An op whose backward is deliberately not the derivative of its forward (a straight-through
estimator, a surrogate derivative, truncated BPTT) declares its *intended gradient*: a
``gradient_reference`` with the forward's values whose JAX autodiff is that gradient, a
``gradient`` description (``"surrogate: ..."``), and for the finite-difference check either a
smooth function whose derivative is the intended gradient or the reason none applies. Its
autodiff path runs the gradient reference, so a model computes the same intended gradient
either way. See docs/design.md, "Intended gradients".
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from funcnet.core.per_example_norms import NormsPass

Backward = Literal["manual", "autodiff"]
BACKWARDS: tuple[str, ...] = ("manual", "autodiff")
EXACT = "exact"
SURROGATE = "surrogate: "


# JAX's message when forward mode (jvp, jacfwd, linearize) reaches a custom_vjp function.
_JAX_FORWARD_MODE = "can't apply forward-mode autodiff (jvp) to a custom_vjp function"

try:  # JAX internals, read only to name the error early; without them JAX's own error stands
    from jax._src.core import trace_ctx as _trace_ctx
    from jax._src.interpreters.ad import JVPTrace as _JVPTrace
    from jax._src.interpreters.ad import JVPTracer as _JVPTracer
except ImportError:  # pragma: no cover
    _trace_ctx = None


# The names of the ops with an intended gradient called while :func:`surrogates_called` records.
_SURROGATES: list[set[str]] = []


@contextlib.contextmanager
def surrogates_called() -> Iterator[set[str]]:
    """Record the names of the ops with an intended (surrogate) gradient that are called inside
    the block, e.g. while tracing a model, so that a model-level check can tell that its
    gradient is not the derivative of its loss."""
    seen: set[str] = set()
    _SURROGATES.append(seen)
    try:
        yield seen
    finally:
        _SURROGATES.remove(seen)


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
    """Raise unless ``backward`` is one of ``"manual"`` or ``"autodiff"`` (or the
    :class:`~funcnet.core.per_example_norms.NormsPass` of a norms pass): a TypeError for
    something other than a string, a ValueError for another string."""
    if isinstance(backward, NormsPass):
        return
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
      gradient: ``"exact"`` when ``bwd`` is the derivative of ``forward``, else a description
        of the intended gradient, ``"surrogate: <what>"``.
      gradient_reference: for an intended gradient, a function with ``forward``'s values whose
        JAX autodiff is that gradient (``None`` for an exact op: ``forward`` is the reference).
      finite_differences: for an intended gradient, a smooth function of the same arguments
        whose derivative is the intended gradient (its values may differ from the forward's),
        or a sentence saying why finite differences do not apply.
      per_example_norms: for an op with parameters, ``(res, dy) -> tuple`` with one entry per
        argument: ``None``, or the squared norm of that argument's cotangent for each example
        (shape ``[B]``, examples along ``dy``'s first axis), from the residuals alone. See
        :mod:`funcnet.core.per_example_norms`.
      bwd_with_norms: ``(res, dy) -> (cotangents, norms)``: ``bwd`` and ``per_example_norms``
        in one pass, for an op whose norms need the backward's intermediate values (a recurrent
        op's per-step cotangents, found only inside its reverse scan); the norms pass then runs
        the backward once, not twice.
    """

    name: str
    forward: Callable[..., Any]
    fwd: Callable[..., tuple[Any, Any]]
    bwd: Callable[[Any, Any], tuple[Any, ...]]
    manual: Callable[..., Any]
    unused_outputs: bool = False
    gradient: str = EXACT
    gradient_reference: Callable[..., Any] | None = None
    finite_differences: Callable[..., Any] | str | None = None
    per_example_norms: Callable[[Any, Any], tuple[Any, ...]] | None = None
    bwd_with_norms: Callable[[Any, Any], tuple[Any, Any]] | None = None

    @property
    def reference(self) -> Callable[..., Any]:
        """The function whose JAX autodiff is the intended gradient (``forward``, if exact)."""
        return self.forward if self.gradient_reference is None else self.gradient_reference

    def __call__(self, *args: Any, backward: Backward = "manual") -> Any:
        """Apply the op, differentiated by the hand-written backward or by JAX autodiff (of the
        gradient reference, for an op with an intended gradient)."""
        check_backward(backward, self.name)
        if self.gradient != EXACT:
            for seen in _SURROGATES:
                seen.add(self.name)
        if isinstance(backward, NormsPass):
            return backward.call(self, args)
        if backward == "autodiff":
            return self.reference(*args)
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
        return make_op(
            self.name,
            self.forward,
            self.fwd,
            bwd,
            unused_outputs=self.unused_outputs,
            gradient=self.gradient,
            gradient_reference=self.gradient_reference,
            finite_differences=self.finite_differences,
            per_example_norms=self.per_example_norms,
            bwd_with_norms=self.bwd_with_norms,
        )

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
    gradient: str = EXACT,
    gradient_reference: Callable[..., Any] | None = None,
    finite_differences: Callable[..., Any] | str | None = None,
    per_example_norms: Callable[[Any, Any], tuple[Any, ...]] | None = None,
    bwd_with_norms: Callable[[Any, Any], tuple[Any, Any]] | None = None,
) -> Op:
    """Bind ``fwd``/``bwd`` with ``jax.custom_vjp`` and return the :class:`Op`.

    An op whose backward is deliberately not the derivative of ``forward`` passes its intended
    gradient: ``gradient="surrogate: <what>"``, ``gradient_reference`` (a function with
    ``forward``'s values whose autodiff is that gradient) and ``finite_differences`` (a smooth
    function whose derivative is that gradient, or why none applies). For sign with the
    straight-through estimator::

        make_op("sign_ste", forward, fwd, bwd,
                gradient="surrogate: straight-through estimator, gradient 1 on |x| <= 1",
                gradient_reference=lambda x: clip(x) + lax.stop_gradient(jnp.sign(x) - clip(x)),
                finite_differences=clip)  # clip = lambda x: jnp.clip(x, -1, 1)

    With ``unused_outputs=True`` (for ops with several outputs, e.g. batch norm's
    ``(y, μ, σ²)``), an output whose cotangent is known to be zero — nothing downstream
    differentiates it, as under ``lax.stop_gradient`` — reaches ``bwd`` as ``None`` rather than
    as an array of zeros, so its terms are skipped instead of computed as ``0·(…)``, which XLA
    may not drop (``0·x`` is not 0 for ``x = inf``).

    An op with parameters may declare ``per_example_norms`` (see :class:`Op`), which DP-SGD's
    :func:`~funcnet.train.clipped_grad` uses instead of per-example gradients, or
    ``bwd_with_norms`` (both from one pass; ``per_example_norms`` is then its second part).
    """
    _check_intended_gradient(name, gradient, gradient_reference, finite_differences)
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
    if bwd_with_norms is not None and per_example_norms is None:

        def per_example_norms(res, dy):
            return bwd_with_norms(res, dy)[1]

    return Op(
        name,
        forward,
        fwd,
        bwd,
        manual,
        unused_outputs,
        gradient,
        gradient_reference,
        finite_differences,
        per_example_norms,
        bwd_with_norms,
    )


def _check_intended_gradient(name: str, gradient: Any, reference: Any, fd: Any) -> None:
    """An exact op declares nothing more; an intended gradient declares all three parts."""
    where = f"make_op({name!r})"
    if not isinstance(gradient, str):
        raise TypeError(f"{where}: expected gradient to be a string, got {gradient!r}.")
    if reference is None:
        if gradient != EXACT:
            raise ValueError(
                f"{where}: expected gradient_reference for the intended gradient {gradient!r}, "
                "got None."
            )
        if fd is not None:
            raise ValueError(
                f"{where}: expected finite_differences only with a gradient_reference, got {fd!r}."
            )
        return
    if not callable(reference):
        raise TypeError(f"{where}: expected a callable gradient_reference, got {reference!r}.")
    if not gradient.startswith(SURROGATE) or not gradient[len(SURROGATE) :].strip():
        raise ValueError(
            f"{where}: expected gradient to read 'surrogate: <what it is>' for an op with a "
            f"gradient_reference, got {gradient!r}."
        )
    if not (callable(fd) or (isinstance(fd, str) and fd.strip())):
        raise ValueError(
            f"{where}: expected finite_differences to be a smooth function whose derivative is "
            f"the intended gradient, or the reason finite differences do not apply, got {fd!r}."
        )


def _is_symbolic_zero(c: Any) -> bool:
    return isinstance(c, SymbolicZero)


def shape_witness(shape: tuple[int, ...]) -> jax.Array:
    """An empty array whose shape records ``shape``: a residual that carries only a static shape
    (residuals must be arrays; this one costs no memory)."""
    return jnp.zeros((0, *shape), jnp.bool_)
