"""Second-order (covariance) pooling: features ``[..., N, C]`` -> the ``C × C`` covariance of the
``N`` positions (+ εI) -> a matrix normalisation -> its upper triangle as a vector.

Ops (registry names ``covariance``, ``upper_triangle``), per matrix, with ``X̄ = X − mean X``::

    covariance:      Σ = X̄ᵀX̄/N + εI         dX = X̄ (dΣ + dΣᵀ)/N                 saves X̄
    upper_triangle:  y = (Σ_ij)_{i<=j}        dΣ = dy scattered onto the triangle   saves nothing

(``dX`` needs no centring term: ``X̄`` has zero column means, so projecting ``X̄ (dΣ + dΣᵀ)``
onto them changes nothing.) The normalisation is ``matrix_log`` (O2P, DeepO2P), ``matrix_sqrt``
via the eigendecomposition, or ``newton_schulz_sqrt`` (iSQRT-COV). Derivations: docs/matrix.md.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import Layer, Shape, check_floating, check_input_shape, check_positive_int
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.matrix._helpers import check_eps, check_matrix, eye_like, transpose
from funcnet.layers.matrix.functions import matrix_log_op, matrix_sqrt_op
from funcnet.layers.matrix.newton_schulz import newton_schulz_sqrt_op

NORMALIZATIONS = ("log", "sqrt", "newton_schulz")


def _check_features(name: str, shape: tuple[int, ...], num_position_axes: int) -> None:
    if len(shape) < num_position_axes + 1:
        raise ValueError(
            f"{name}: expected features [..., {num_position_axes} position axes, C], "
            f"got shape {tuple(shape)}."
        )


def _positions_last(x: Any, num_position_axes: int) -> Any:
    """``[..., *P, C] -> [..., N, C]`` with ``N = Π P``."""
    batch = x.shape[: x.ndim - num_position_axes - 1]
    return x.reshape(*batch, -1, x.shape[-1])


@op_factory("covariance")
def covariance_op(*, eps: float = 0.0, num_position_axes: int = 1) -> Op:
    """The op ``x [..., *P, C] -> X̄ᵀX̄/N + εI [..., C, C]`` over the ``N = Π P`` positions."""
    check_eps("covariance", eps, allow_zero=True)
    check_positive_int("covariance", "num_position_axes", num_position_axes)

    def centred(x):
        _check_features("covariance", jnp.shape(x), num_position_axes)
        check_floating("covariance", x)
        x = _positions_last(x, num_position_axes)
        return x - jnp.mean(x, axis=-2, keepdims=True)

    def covariance(xc):
        return transpose(xc) @ xc / xc.shape[-2] + eps * eye_like(xc)

    def forward(x):
        return covariance(centred(x))

    def fwd(x):
        xc = centred(x)
        return covariance(xc), (xc, shape_witness(x.shape))

    def bwd(res, dy):
        # dX = X̄ (dΣ + dΣᵀ)/N
        xc, witness = res
        return ((xc @ (dy + transpose(dy)) / xc.shape[-2]).reshape(witness.shape[1:]),)

    def jvp(primals, tangents):
        # Σ̇ = (X̄̇ᵀX̄ + X̄ᵀX̄̇)/N, X̄̇ = Ẋ − mean Ẋ (centring is linear)
        (x,), (dx,) = primals, tangents
        xc, dxc = centred(x), centred(dx)
        product = transpose(dxc) @ xc / xc.shape[-2]
        return covariance(xc), product + transpose(product)

    return make_op("covariance", forward, fwd, bwd, jvp=jvp)


@op_factory("upper_triangle")
def upper_triangle_op() -> Op:
    """The op ``x [..., C, C] -> [..., C(C+1)/2]``: the entries ``x_ij, i <= j``, row by row."""

    def forward(x):
        check_matrix("upper_triangle", x, square=True)
        rows, cols = np.triu_indices(x.shape[-1])
        return x[..., rows, cols]

    def fwd(x):
        return forward(x), (shape_witness(x.shape),)

    def bwd(res, dy):
        # dΣ_ij = dy_(i,j) for i <= j, 0 below the diagonal
        shape = res[0].shape[1:]
        rows, cols = np.triu_indices(shape[-1])
        return (jnp.zeros(shape, dy.dtype).at[..., rows, cols].set(dy),)

    # ẏ = the upper triangle of Ẋ
    return make_op("upper_triangle", forward, fwd, bwd, jvp=linear_jvp(forward))


def _normalization_op(normalization: Any, eps: float, num_iterations: Any) -> Op:
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"covariance_pool: expected normalization in {NORMALIZATIONS}, got {normalization!r}."
        )
    if normalization != "newton_schulz" and num_iterations is not None:
        raise ValueError(
            f"covariance_pool: expected num_iterations only with normalization='newton_schulz', "
            f"got num_iterations={num_iterations!r} with normalization={normalization!r}."
        )
    if normalization == "newton_schulz":
        return newton_schulz_sqrt_op(5 if num_iterations is None else num_iterations)
    # Σ + εI has no eigenvalue below ε; the clamp at ε/2 only catches rounding.
    return (matrix_log_op if normalization == "log" else matrix_sqrt_op)(eps=eps / 2)


@layer_factory("covariance_pool")
def covariance_pool(
    normalization: str = "sqrt",
    *,
    eps: float = 1e-3,
    num_position_axes: int = 1,
    num_iterations: int | None = None,
) -> Layer:
    """Second-order pooling: the normalised covariance of the channels over the positions.

    Args:
      normalization: ``"log"`` (matrix logarithm), ``"sqrt"`` (matrix square root through the
        eigendecomposition) or ``"newton_schulz"`` (iterative square root, iSQRT-COV).
      eps: added to the covariance's diagonal (keeps a rank-deficient covariance positive
        definite); eigenvalues that rounding pushes below ``eps/2`` are raised to it.
      num_position_axes: how many axes before the channels are positions (2 for images).
      num_iterations: Newton–Schulz iterations (default 5); only with ``"newton_schulz"``.

    Shapes:
      x: ``[..., *positions, C]`` -> y: ``[..., C(C+1)/2]`` (any leading batch axes).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = covariance_pool("log", num_position_axes=2)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (8, 4, 4, 16))
      >>> out_shape
      (8, 136)
    """
    check_eps("covariance_pool", eps)
    check_positive_int("covariance_pool", "num_position_axes", num_position_axes)
    ops = (
        covariance_op(eps=eps, num_position_axes=num_position_axes),
        _normalization_op(normalization, eps, num_iterations),
        upper_triangle_op(),
    )

    def output_shape(shape: Shape) -> Shape:
        _check_features("covariance_pool", shape, num_position_axes)
        c = shape[-1]
        return (*shape[: len(shape) - num_position_axes - 1], c * (c + 1) // 2)

    def init(key, input_shape):
        del key
        return output_shape(check_input_shape("covariance_pool", input_shape)), (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del params, key, train
        check_backward(backward, "covariance_pool")
        _check_features("covariance_pool", jnp.shape(x), num_position_axes)
        check_floating("covariance_pool", x)
        for op in ops:
            x = op(x, backward=backward)
        return x, state

    return Layer("covariance_pool", init, apply)


def _covariance_cases() -> list[Case]:
    # Batch 2, positions 3 × 2 (an image), 3 channels.
    op = covariance_op(eps=0.1, num_position_axes=2)
    return [Case("image_2x3x2x3", op, (Arg((2, 3, 2, 3)),))]


def _upper_triangle_cases() -> list[Case]:
    return [Case("batched_2x3x3", upper_triangle_op(), (Arg((2, 3, 3)),))]


def _covariance_pool_cases() -> list[LayerCase]:
    features = Arg((2, 6, 3))
    return [LayerCase(f"{n}_2x6x3", covariance_pool(n, eps=0.1), features) for n in NORMALIZATIONS]


add_cases("covariance", _covariance_cases)
add_cases("upper_triangle", _upper_triangle_cases)
add_layer_cases("covariance_pool", _covariance_pool_cases)
