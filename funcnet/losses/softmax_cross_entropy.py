"""Softmax cross-entropy on logits ``z`` against probability targets or integer labels.

With the class axis of size ``C``, ``B`` rows (the product of every other axis), ``ℓ`` the
log-softmax along the class axis, ``p = exp(ℓ)`` the softmax and ``g`` the incoming cotangent::

    softmax_cross_entropy:       L = −(1/B) Σ_rows Σ_c t_c ℓ_c
        dz = (g/B) (p · Σ_c t_c − t)      dt = −(g/B) ℓ
    ..._with_integer_labels:     L = −(1/B) Σ_rows ℓ_label
        dz = (g/B) (p − onehot(label))    (labels get no cotangent)

The fused ``dz`` is ``(p − t)/B`` when each row of ``t`` sums to one; the general form keeps the
gradient exact for unnormalised targets too. Residuals: ``ℓ`` (``p = exp(ℓ)``) and the targets
or labels. ``ℓ`` subtracts the row maximum before exponentiating, so it is finite for finite
logits and ``0 · ℓ`` is ``0`` even where ``p`` underflows.
Derivation: docs/losses.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.jvp_rules import scalar_jvp
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.losses._validate import (
    batch_size,
    check_axis_config,
    check_like,
    class_axis,
)

NAME = "softmax_cross_entropy"
NAME_INT = "softmax_cross_entropy_with_integer_labels"


def log_softmax(z: jax.Array, axis: int) -> jax.Array:
    """``z − logsumexp(z)`` along ``axis``, the maximum subtracted first; never ``log(softmax)``."""
    shifted = z - lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


def scattered_one_hot(labels: jax.Array, n_classes: int, ax: int, dtype: jnp.dtype) -> jax.Array:
    """``onehot(labels)`` with its class axis at ``ax``, written as a scatter of ones.

    The one-hot depends on the labels alone. As a scatter, XLA keeps it a node of its own
    that the compiled training step can run at its start, beside the forward pass; written as
    a compare against an iota (``jax.nn.one_hot``), XLA fuses it into the softmax at the end of
    the forward chain and the step loses that concurrency on XLA:CPU — measured 8–12% slower
    for the 784-512-512-10 MLP benchmark (docs/losses.md).
    """
    labels = jnp.where(labels < 0, labels + n_classes, labels)  # as take_along_axis does
    flat = labels.reshape(-1)
    rows = jnp.zeros((flat.shape[0], n_classes), dtype).at[jnp.arange(flat.shape[0]), flat].set(1)
    return jnp.moveaxis(rows.reshape((*labels.shape, n_classes)), -1, ax)


@op_factory(NAME)
def softmax_cross_entropy(axis: int = -1) -> Op:
    """Cross-entropy of probability targets under a softmax of the logits, ``-> scalar``.

    Args:
      axis: the class axis of both arguments.

    Shapes:
      logits: ``[..., C]``; targets: ``[..., C]`` probabilities, same shape and dtype
      -> ``[]`` (the mean over rows; the class axis may be any ``axis``).

    Examples:
      >>> import jax.numpy as jnp
      >>> loss = softmax_cross_entropy()
      >>> round(float(loss(jnp.zeros((2, 4)), jnp.full((2, 4), 0.25))), 6)  # log 4
      1.386294
    """
    axis = check_axis_config(NAME, axis)

    def check(logits: jax.Array, targets: jax.Array) -> int:
        ax = class_axis(NAME, logits, axis)
        check_like(NAME, "targets", targets, "logits", logits)
        return ax

    def forward(logits: jax.Array, targets: jax.Array) -> jax.Array:
        ax = check(logits, targets)
        return jnp.mean(-jnp.sum(targets * log_softmax(logits, ax), axis=ax))

    def fwd(logits: jax.Array, targets: jax.Array) -> tuple[jax.Array, tuple]:
        ax = check(logits, targets)
        logp = log_softmax(logits, ax)
        return jnp.mean(-jnp.sum(targets * logp, axis=ax)), (logp, targets)

    def bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
        # dz = (g/B)(softmax(z)·Σ_c t − t), dt = −(g/B) log_softmax(z)
        logp, t = res
        ax = axis % logp.ndim
        c = g / batch_size(logp.shape, ax)
        dz = c * (jnp.exp(logp) * jnp.sum(t, axis=ax, keepdims=True) - t)
        return dz, -c * logp

    # L̇ = (1/B) Σ_rows [⟨softmax(z)·Σ_c t − t, ż⟩ − ⟨log_softmax(z), ṫ⟩]
    return make_op(NAME, forward, fwd, bwd, jvp=scalar_jvp(fwd, bwd))


@op_factory(NAME_INT)
def softmax_cross_entropy_with_integer_labels(axis: int = -1) -> Op:
    """Cross-entropy of integer class labels under a softmax of the logits, ``-> scalar``.

    Labels must lie in ``[0, C)``; a negative label counts from the end (as in indexing), and
    one outside ``[−C, C)`` gives a NaN loss. Labels get no cotangent (``None``).

    Args:
      axis: the class axis of ``logits``.

    Shapes:
      logits: ``[..., C]``; labels: ``[...]`` integers (``logits``' shape without ``axis``)
      -> ``[]`` (the mean over rows).

    Examples:
      >>> import jax.numpy as jnp
      >>> loss = softmax_cross_entropy_with_integer_labels()
      >>> round(float(loss(jnp.zeros((2, 4)), jnp.array([0, 3]))), 6)  # log 4
      1.386294
    """
    axis = check_axis_config(NAME_INT, axis)

    def check(logits: jax.Array, labels: jax.Array) -> int:
        ax = class_axis(NAME_INT, logits, axis)
        dtype = jnp.result_type(labels)
        if not jnp.issubdtype(dtype, jnp.integer):
            raise ValueError(f"{NAME_INT}: expected integer labels, got dtype {dtype}.")
        shape = jnp.shape(logits)
        expected = shape[:ax] + shape[ax + 1 :]
        if jnp.shape(labels) != expected:
            raise ValueError(
                f"{NAME_INT}: expected labels of shape {expected} (logits shape {shape} "
                f"without axis {axis}), got {jnp.shape(labels)}."
            )
        return ax

    def picked(logp: jax.Array, labels: jax.Array, ax: int) -> jax.Array:
        return jnp.take_along_axis(logp, jnp.expand_dims(labels, ax), axis=ax)

    def forward(logits: jax.Array, labels: jax.Array) -> jax.Array:
        ax = check(logits, labels)
        return -jnp.mean(picked(log_softmax(logits, ax), labels, ax))

    def fwd(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, tuple]:
        ax = check(logits, labels)
        logp = log_softmax(logits, ax)
        return -jnp.mean(picked(logp, labels, ax)), (logp, labels)

    def bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, None]:
        # dz = (g/B)(softmax(z) − onehot(labels)), labels: no cotangent
        logp, labels = res
        ax = axis % logp.ndim
        onehot = scattered_one_hot(labels, logp.shape[ax], ax, logp.dtype)
        return (g / batch_size(logp.shape, ax)) * (jnp.exp(logp) - onehot), None

    # L̇ = (1/B) Σ_rows ⟨softmax(z) − onehot(labels), ż⟩ (the labels' float0 tangent: ignored)
    return make_op(NAME_INT, forward, fwd, bwd, jvp=scalar_jvp(fwd, bwd))


def _cases() -> list[Case]:
    last, first = softmax_cross_entropy(-1), softmax_cross_entropy(0)
    simplex = lambda shape: Arg(shape, kind="simplex")  # noqa: E731
    return [
        Case("matrix", last, (Arg((5, 4), low=-3.0, high=3.0), simplex((5, 4))), second_order=True),
        Case("batch_axes", last, (Arg((2, 3, 4), low=-3.0, high=3.0), simplex((2, 3, 4)))),
        # Arg's simplex rows sum to one along the last axis, so with axis=0 these targets are
        # unnormalised along the class axis: exactly what the general dz form must get right.
        Case("axis0", first, (Arg((5, 4)), simplex((5, 4))), second_order=True),
        Case("unnormalised_targets", last, (Arg((5, 4)), Arg((5, 4), "positive", 0.1, 1.0))),
    ]


def _cases_int() -> list[Case]:
    last, first = (
        softmax_cross_entropy_with_integer_labels(-1),
        softmax_cross_entropy_with_integer_labels(0),
    )
    label = lambda shape: Arg(shape, kind="int", high=4)  # noqa: E731
    return [
        Case("matrix", last, (Arg((5, 4), low=-3.0, high=3.0), label((5,))), second_order=True),
        Case("batch_axes", last, (Arg((2, 3, 4), low=-3.0, high=3.0), label((2, 3)))),
        Case("axis0", first, (Arg((5, 4)), Arg((4,), kind="int", high=5))),
    ]


add_cases(NAME, _cases)
add_cases(NAME_INT, _cases_int)
