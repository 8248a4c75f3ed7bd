"""Inverted dropout: ``y = x ⊙ m / (1 − p)`` with a 0/1 keep mask ``m`` drawn from an explicit key.

Shapes: ``x [...]``, ``m [...]`` (same shape, integer or bool, ``P(m = 1) = 1 − p``), ``y [...]``.
The op is linear in ``x`` with a diagonal Jacobian, so the VJP reuses the forward's mask::

    dx = dy ⊙ m / (1 − p)        (the mask is not differentiable: its cotangent is None)

Residuals: the mask itself (the layer draws it as bool, one byte per element; autodiff keeps
the float array ``m / (1 − p)`` instead). In evaluation mode (``train=False``) and for
``drop_rate == 0`` the layer is the identity and calls no op. Derivation: docs/dropout.md.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_in_floats_jvp
from funcnet.core.layer import Layer, Shape, check_floating, check_input_shape
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory

NAME = "dropout"


def _check_drop_rate(drop_rate: Any) -> float:
    message = f"{NAME}: expected drop_rate to be a number in [0, 1), got {drop_rate!r}."
    if isinstance(drop_rate, bool) or not isinstance(drop_rate, numbers.Real):
        raise TypeError(message)
    if not math.isfinite(drop_rate) or not 0 <= drop_rate < 1:
        raise ValueError(message)
    return float(drop_rate)


def _check_mask(x: Any, keep_mask: Any) -> None:
    dtype = jnp.result_type(keep_mask)
    if not (jnp.issubdtype(dtype, jnp.integer) or dtype == jnp.bool_):
        raise ValueError(f"{NAME}: expected an integer or bool keep_mask, got dtype {dtype}.")
    if jnp.shape(keep_mask) != jnp.shape(x):
        raise ValueError(
            f"{NAME}: expected keep_mask of the input's shape {jnp.shape(x)}, "
            f"got {jnp.shape(keep_mask)}."
        )


@op_factory(NAME)
def dropout_op(drop_rate: float) -> Op:
    """The op ``(x, keep_mask) -> x ⊙ keep_mask / (1 − drop_rate)``.

    Args:
      drop_rate: the probability ``p`` that an element was dropped, in ``[0, 1)``; it sets the
        scale ``1 / (1 − p)`` that keeps the expectation of ``y`` equal to ``x``.

    Shapes:
      x: ``[...]`` floating point; keep_mask: ``[...]`` the same shape, integer or bool, 0 for a
      dropped element and 1 for a kept one -> ``[...]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> dropout_op(0.5)(jnp.array([1.0, 2.0, 3.0]), jnp.array([1, 0, 1])).tolist()
      [2.0, 0.0, 6.0]
    """
    scale = 1.0 / (1.0 - _check_drop_rate(drop_rate))

    def forward(x, keep_mask):
        _check_mask(x, keep_mask)
        return x * (keep_mask.astype(x.dtype) * scale)

    def fwd(x, keep_mask):
        return forward(x, keep_mask), keep_mask  # the layer's mask is bool: one byte each

    def bwd(keep_mask, dy):
        # dx = dy ⊙ m / (1 − p); the mask gets no cotangent
        return dy * (keep_mask.astype(dy.dtype) * scale), None

    # ẏ = ẋ ⊙ m / (1 − p): the same diagonal, the mask held fixed
    return make_op(NAME, forward, fwd, bwd, jvp=linear_in_floats_jvp(forward))


@layer_factory("dropout")
def dropout(drop_rate: float) -> Layer:
    """A dropout layer: zero each element with probability ``drop_rate`` when training.

    Training (``train=True``) needs a ``key``; the keep mask is drawn from it with
    ``jax.random.bernoulli``, so the same key gives the same mask. Kept elements are scaled by
    ``1 / (1 − drop_rate)`` (inverted dropout), so evaluation (``train=False``) is the identity
    and needs no key. ``drop_rate == 0`` is the identity too.

    Args:
      drop_rate: the probability of dropping an element, in ``[0, 1)`` (the *drop*
        probability, not the keep probability).

    Shapes:
      x: ``[...]`` floating point -> y: ``[...]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = dropout(0.5)
      >>> _, params, state = layer.init(jax.random.key(0), (2, 3))
      >>> x = jnp.ones((2, 3))
      >>> bool(jnp.all(layer.apply(params, state, x)[0] == x))  # evaluation: the identity
      True
      >>> y, _ = layer.apply(params, state, x, key=jax.random.key(1), train=True)
      >>> set(y.ravel().tolist()) <= {0.0, 2.0}  # dropped, or kept and scaled by 1/(1 − p)
      True
    """
    drop_rate = _check_drop_rate(drop_rate)
    op = dropout_op(drop_rate)
    keep_rate = 1.0 - drop_rate

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        del key
        return check_input_shape(NAME, input_shape), (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del params
        check_backward(backward, NAME)
        check_floating(NAME, x)
        if not train:
            return x, state
        if key is None:
            raise TypeError(
                f"{NAME}: expected a PRNG key when train=True (the mask is drawn from it), "
                "got key=None."
            )
        if drop_rate == 0:
            return x, state
        keep_mask = jax.random.bernoulli(key, keep_rate, jnp.shape(x))
        return op(x, keep_mask, backward=backward), state

    return Layer(NAME, init, apply)


def _cases() -> list[Case]:
    def mask(shape: tuple[int, ...]) -> Arg:
        return Arg(shape, kind="int", high=2)  # 0/1 integers

    return [
        Case("matrix", dropout_op(0.25), (Arg((4, 5)), mask((4, 5))), second_order=True),
        Case("batch_axes", dropout_op(0.5), (Arg((2, 3, 4)), mask((2, 3, 4)))),
    ]


add_cases(NAME, _cases)
add_layer_cases(NAME, lambda: [LayerCase("train", dropout(0.5), Arg((3, 4)), train=True)])
