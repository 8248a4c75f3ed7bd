"""Dense (fully connected) layer: ``Y = X W + b`` over any leading batch axes.

Shapes: ``X [..., n_in]``, ``W [n_in, n_out]``, ``b [n_out]``, ``Y [..., n_out]``.
With the leading axes flattened into one of size ``B``, ``X`` is ``B×n_in`` and the VJP is::

    dX = dY Wᵀ        dW = Xᵀ dY        db = 1ᵀ dY  (the column sums of dY)

Residuals: ``X`` and ``W`` — exactly the two matrices the products need.
Derivation: docs/dense.md.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_axis_size,
    check_float_dtype,
    check_floating,
    check_input_shape,
    check_option_applies,
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.per_example_norms import gram_sq_norm, leading_rows
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer, lecun_normal, zeros


class DenseParams(NamedTuple):
    w: jax.Array  # [n_in, n_out]
    b: jax.Array | None  # [n_out], or None without bias


def weight_gradient(x: jax.Array, dy: jax.Array) -> jax.Array:
    """``Σ xᵀ dy`` over the leading axes: the weight gradient of ``y = x W``.

    The product needs one operand transposed (on CPU, XLA copies it). Transposing the
    narrower of ``x`` and ``dy`` moves fewer bytes, and spares the wider one from being
    recomputed inside the transposing loop when it is an elementwise function of an earlier
    product: with ``x`` always transposed, dense → gelu → dense recomputed gelu there and took
    1.35× autodiff's time; with ``dy`` always transposed (JAX's choice), dense alone lost its
    1.3× lead (docs/benchmarks.md, "Sub-blocks"). Without leading axes (one example, as under
    ``vmap`` for per-example gradients) it is an outer product, written in place.
    """
    axes = tuple(range(x.ndim - 1))
    if not axes or x.shape[-1] <= dy.shape[-1]:
        return jnp.tensordot(x, dy, axes=(axes, axes))
    return jnp.tensordot(dy, x, axes=(axes, axes)).T


@op_factory("dense")
def dense_op(use_bias: bool = True) -> Op:
    """The dense op ``(x, w[, b]) -> x @ w (+ b)``."""

    def forward(x, w, *b):
        y = jnp.matmul(x, w)
        return y + jnp.expand_dims(b[0], tuple(range(y.ndim - 1))) if use_bias else y

    def fwd(x, w, *b):
        return forward(x, w, *b), (x, w)

    def bwd(res, dy):
        # dX = dY Wᵀ, dW = Xᵀ dY, db = Σ_batch dY
        x, w = res
        dx = jnp.matmul(dy, w.T)
        dw = weight_gradient(x, dy)
        return (dx, dw, jnp.sum(dy, axis=tuple(range(dy.ndim - 1)))) if use_bias else (dx, dw)

    def per_example_norms(res, dy):
        # ‖dWᵢ‖² = ‖Xᵢᵀ dYᵢ‖² = Σ (XᵢXᵢᵀ ∘ dYᵢdYᵢᵀ), ‖dbᵢ‖² = ‖1ᵀ dYᵢ‖² (rows: positions in i)
        x, _ = res
        rows_x, rows_dy = leading_rows(x, x.ndim - 1), leading_rows(dy, dy.ndim - 1)
        dw = gram_sq_norm(rows_x, rows_dy)
        db = jnp.sum(jnp.sum(rows_dy, axis=1) ** 2, axis=-1)
        return (None, dw, db) if use_bias else (None, dw)

    return make_op("dense", forward, fwd, bwd, per_example_norms=per_example_norms)


@layer_factory("dense")
def dense(
    features: int,
    *,
    use_bias: bool = True,
    w_init: Initializer | None = None,
    b_init: Initializer | None = None,
    dtype: jnp.dtype = jnp.float32,
) -> Layer:
    """A dense layer with ``features`` outputs.

    Args:
      features: number of output features.
      use_bias: add a learned bias.
      w_init, b_init: initialisers from :mod:`funcnet.initializers` (jax.nn.initializers);
        ``w_init`` defaults to ``lecun_normal()``, ``b_init`` to zeros (with ``use_bias``
        only: a TypeError otherwise).
      dtype: dtype of the parameters; the input must have the same dtype.

    Shapes:
      x: ``[..., n_in]`` -> y: ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = dense(3)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (2, 4))
      >>> out_shape, params.w.shape, params.b.shape
      ((2, 3), (4, 3), (3,))
      >>> y, _ = layer.apply(params, state, jnp.ones((2, 4)))
      >>> y.shape
      (2, 3)
    """
    check_positive_int("dense", "features", features)
    check_float_dtype("dense", dtype)
    check_option_applies("dense", "b_init", b_init, use_bias, "with use_bias=True")
    op = dense_op(use_bias)
    w_init, b_init = w_init or lecun_normal(), b_init or zeros

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, DenseParams, tuple]:
        shape = check_input_shape("dense", input_shape)
        check_shape_rank("dense", shape, 1)
        w_key, b_key = jax.random.split(key)
        w = w_init(w_key, (shape[-1], features), dtype)
        b = b_init(b_key, (features,), dtype) if use_bias else None
        return (*shape[:-1], features), DenseParams(w, b), ()

    def apply(params: DenseParams, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, "dense")
        check_shape_rank("dense", jnp.shape(x), 1)
        check_axis_size("dense", jnp.shape(x), -1, params.w.shape[0])
        check_floating("dense", x, params.w.dtype)
        args = (x, params.w, params.b) if use_bias else (x, params.w)
        return op(*args, backward=backward), state

    return Layer("dense", init, apply)


def _cases() -> list[Case]:
    with_bias, without_bias = dense_op(True), dense_op(False)
    return [
        Case("matrix", with_bias, (Arg((5, 4)), Arg((4, 3)), Arg((3,)))),
        Case("vector", with_bias, (Arg((4,)), Arg((4, 3)), Arg((3,)))),
        Case("batch_axes", with_bias, (Arg((2, 3, 4)), Arg((4, 6)), Arg((6,)))),
        Case("no_bias", without_bias, (Arg((5, 4)), Arg((4, 3))), second_order=True),
    ]


add_cases("dense", _cases)
add_layer_cases("dense", lambda: [LayerCase("batch_axes", dense(3), Arg((2, 4)))])
