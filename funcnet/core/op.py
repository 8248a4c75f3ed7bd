"""The op: the unit of differentiation in funcnet.

An op bundles three pure functions over array arguments:

* ``forward(*args) -> y`` — plain ``jax.numpy``; JAX autodiff through it is the oracle;
* ``fwd(*args) -> (y, res)`` — the same computation, also returning the residuals the
  backward needs (and only those);
* ``bwd(res, dy) -> (dx_1, ..., dx_n)`` — the hand-written vector-Jacobian product. It never
  calls JAX autodiff. ``None`` stands for a zero cotangent (integer arguments get one).

``jax.custom_vjp`` binds ``fwd`` and ``bwd`` into the *manual* path; the *autodiff* path is
``forward`` itself. An op may also carry a hand-written JVP, ``jvp(primals, tangents) ->
(y, ẏ)``, linear in the tangents and written from the same derivation; ``jax.custom_jvp``
binds it into the *manual_jvp* path, on which forward mode (``jax.jvp``, ``jax.jacfwd``) runs
the hand-written JVP and reverse mode is JAX's transpose of it (docs/forward_mode.md). All
paths compute the same forward values, so a model can be run either way and compared.
Configuration (axis, epsilon, ...) is closed over by the factory that builds the op, never
passed as an argument.

An op whose backward is deliberately not the derivative of its forward (a straight-through
estimator, a surrogate derivative, truncated BPTT) declares its *intended gradient*: a
``gradient_reference`` with the forward's values whose JAX autodiff is that gradient, a
``gradient`` description (``"surrogate: ..."``), and for the finite-difference check either a
smooth function whose derivative is the intended gradient or the reason none applies. Its
autodiff path runs the gradient reference, so a model computes the same intended gradient
either way. See docs/design.md, "Intended gradients".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from funcnet.core.intended_gradient import (
    EXACT,
    check_intended_gradient,
    record_surrogate,
)
from funcnet.core.per_example_norms import NormsPass
from funcnet.core.vjp_forward_mode import (
    forward_mode_error,
    is_jax_forward_mode_error,
    under_jvp,
)

Backward = Literal["manual", "autodiff", "manual_jvp"]
BACKWARDS: tuple[str, ...] = ("manual", "autodiff", "manual_jvp")


def check_backward(backward: Any, where: str) -> None:
    """Raise unless ``backward`` is one of ``"manual"``, ``"autodiff"``, ``"manual_jvp"`` (or the
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
      jvp: the hand-written JVP ``(primals, tangents) -> (y, ẏ)``, or ``None`` while the op has
        none (its ``"manual_jvp"`` path then raises).
      manual_jvp: ``forward``'s values with ``jvp`` as its JVP (``jax.custom_jvp``), or ``None``.
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
    jvp: Callable[[tuple, tuple], tuple[Any, Any]] | None = None
    manual_jvp: Callable[..., Any] | None = None
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
            record_surrogate(self.name)
        if isinstance(backward, NormsPass):
            return backward.call(self, args)
        if backward == "autodiff":
            return self.reference(*args)
        if backward == "manual_jvp":
            if self.manual_jvp is None:
                raise NotImplementedError(
                    f'{self.name}: has no hand-written JVP yet, so backward="manual_jvp" cannot '
                    'run it; use backward="manual" or "autodiff" (docs/forward_mode.md).'
                )
            return self.manual_jvp(*args)
        if under_jvp(args):
            raise forward_mode_error(self.name)
        try:  # free unless it raises (JAX raises here for an eager JVP)
            return self.manual(*args)
        except TypeError as e:
            if not is_jax_forward_mode_error(e):
                raise
            raise forward_mode_error(self.name) from e

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
            jvp=self.jvp,
            bwd_with_norms=self.bwd_with_norms,
        )

    def with_jvp(self, jvp: Callable[[tuple, tuple], tuple[Any, Any]]) -> Op:
        """The same op with another JVP (used to test that the verifier catches bugs)."""
        return dataclasses.replace(self, jvp=jvp, manual_jvp=_bind_jvp(self.forward, jvp))

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
    jvp: Callable[[tuple, tuple], tuple[Any, Any]] | None = None,
    bwd_with_norms: Callable[[Any, Any], tuple[Any, Any]] | None = None,
) -> Op:
    """Bind ``fwd``/``bwd`` with ``jax.custom_vjp`` (and ``jvp``, if given, with
    ``jax.custom_jvp``) and return the :class:`Op`.

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

    ``jvp(primals, tangents) -> (y, ẏ)`` is the hand-written forward-mode derivative: ``ẏ``
    linear in the tangents (JAX transposes it for reverse mode on the ``"manual_jvp"`` path),
    the intended derivative for an op with an intended gradient. An integer argument's tangent
    arrives as a ``float0`` zero array and is ignored.
    """
    check_intended_gradient(name, gradient, gradient_reference, finite_differences)
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
        jvp,
        None if jvp is None else _bind_jvp(forward, jvp),
        bwd_with_norms,
    )


def _bind_jvp(forward: Callable[..., Any], jvp: Callable[[tuple, tuple], tuple[Any, Any]]):
    """``forward`` with ``jvp`` as its JVP rule (``jax.custom_jvp``)."""
    bound = jax.custom_jvp(forward)
    bound.defjvp(jvp)
    return bound


def _is_symbolic_zero(c: Any) -> bool:
    return isinstance(c, SymbolicZero)


def shape_witness(shape: tuple[int, ...]) -> jax.Array:
    """An empty array whose shape records ``shape``: a residual that carries only a static shape
    (residuals must be arrays; this one costs no memory)."""
    return jnp.zeros((0, *shape), jnp.bool_)
