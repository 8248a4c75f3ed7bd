"""The transposed-convolution ops and layers: values, shapes, gradients, errors, planted bugs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from funcnet.core.registry import Arg
from funcnet.layers._windows import (
    dilated_size,
    dimension_numbers,
    transpose_padding,
    weight_grad_dimension_numbers,
)
from funcnet.layers.conv import (
    conv_transpose1d,
    conv_transpose1d_op,
    conv_transpose2d,
    conv_transpose2d_op,
)
from funcnet.verify import VerificationError, verify_op

KEY = jax.random.key(0)


def numpy_conv_transpose1d(x, w, stride, pads, dilation):
    """Scatter form: ``y[i·s + a − t·d] += x[i] w[t]``, in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    (a, b), n, k = pads, x.shape[1], w.shape[0]
    m = (n - 1) * stride + 1 + a + b - (dilation * (k - 1) + 1) + 1
    y = np.zeros((x.shape[0], m, w.shape[-1]))
    for i in range(n):
        for t in range(k):
            o = i * stride + a - t * dilation
            if 0 <= o < m:
                y[:, o] += x[:, i] @ w[t]
    return y


@pytest.mark.parametrize("padding", ["SAME", "VALID", ((0, 3),), ((2, 1),)])
def test_values_match_a_numpy_scatter_loop_and_lax(padding):
    x, w = jax.random.normal(KEY, (2, 5, 3)), jax.random.normal(jax.random.key(1), (3, 3, 2))
    (pads,) = transpose_padding(padding, (3,), (2,), (2,))
    expected = numpy_conv_transpose1d(x, w, 2, pads, 2)
    op = conv_transpose1d_op(2, padding, 2, use_bias=False)
    for backward in ("manual", "autodiff"):
        np.testing.assert_allclose(op(x, w, backward=backward), expected, rtol=1e-5, atol=1e-5)
    reference = lax.conv_transpose(x, w, (2,), padding, rhs_dilation=(2,),
                                   dimension_numbers=("NWC", "WIO", "NWC"))  # fmt: skip
    np.testing.assert_allclose(reference, expected, rtol=1e-5, atol=1e-5)


def test_layer_adds_the_bias_over_several_batch_axes():
    layer = conv_transpose2d(3, 2, stride=2)
    out_shape, params, state = layer.init(KEY, (4, 2, 3, 3, 2))
    assert out_shape == (4, 2, 6, 6, 3) and params.w.shape == (2, 2, 2, 3)
    params = params._replace(b=jnp.arange(3.0))
    x = jax.random.normal(KEY, (4, 2, 3, 3, 2))
    y, _ = layer.apply(params, state, x)
    expected = lax.conv_transpose(x.reshape(8, 3, 3, 2), params.w, (2, 2), "SAME",
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip
    expected = np.asarray(expected).reshape(4, 2, 6, 6, 3) + np.asarray(params.b)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (2, 4, 5, 3)),
        (dict(stride=2), (2, 8, 10, 3)),  # SAME: n·s
        (dict(stride=(3, 2)), (2, 12, 10, 3)),
        (dict(stride=2, padding="VALID"), (2, 9, 11, 3)),  # n·s + max(K − s, 0)
        (dict(stride=4, padding="VALID"), (2, 16, 20, 3)),
        (dict(stride=2, padding="VALID", dilation=2), (2, 11, 13, 3)),
        (dict(stride=2, padding=((0, 0), (2, 2))), (2, 5, 11, 3)),  # (n − 1)s + 1 + a + b − K + 1
    ],
)
def test_output_shapes(kwargs, expected):
    layer = conv_transpose2d(3, 3, **kwargs)
    out_shape, params, state = layer.init(KEY, (2, 4, 5, 2))
    assert out_shape == expected
    assert layer.apply(params, state, jnp.ones((2, 4, 5, 2)))[0].shape == expected


# Configurations not in the registry (the planted bugs below reuse the first one).
EXOTIC_2D = dict(stride=(2, 3), padding="SAME", dilation=(1, 2))
EXOTIC_2D_ARGS = (Arg((2, 3, 4, 2)), Arg((3, 2, 2, 3)), Arg((3,)))


def test_manual_backward_matches_autodiff_on_an_extra_configuration():
    verify_op(conv_transpose2d_op(**EXOTIC_2D), EXOTIC_2D_ARGS).raise_if_failed()


def _apply(layer, x, input_shape=(2, 4, 4, 3)):
    _, params, state = layer.init(KEY, input_shape)
    return layer.apply(params, state, x)


BAD = {
    "window_too_large": lambda: conv_transpose1d(2, 5, padding=((0, 0),)).init(KEY, (1, 2, 1)),
    "zero_stride": lambda: conv_transpose2d(2, 3, stride=(0, 1)),
    "zero_kernel": lambda: conv_transpose1d(2, (0,)),
    "zero_features": lambda: conv_transpose2d(0, 3),
    "padding_name": lambda: conv_transpose2d(2, 3, padding="same"),
    "padding_pairs": lambda: conv_transpose1d(2, 3, padding=((1, 1), (1, 1))),
    "dtype_mismatch": lambda: _apply(conv_transpose2d(2, 3), jnp.ones((2, 4, 4, 3), jnp.float16)),
    "param_dtype": lambda: conv_transpose1d(2, 3, dtype=jnp.int8),
    "op_bias": lambda: conv_transpose1d_op()(jnp.ones((1, 4, 2)), jnp.ones((3, 2, 3)), jnp.ones(2)),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_inputs_raise_value_errors_naming_the_layer(case):
    with pytest.raises(ValueError, match=r"^conv_transpose[12]d: expected .* got "):
        BAD[case]()


def _conv_transpose2d_bwd(stride, padding, dilation, flip_dx=True, flip_dw=False):
    """The conv_transpose2d backward with a switch per planted bug."""
    dn, dn_w = dimension_numbers(2), weight_grad_dimension_numbers(2)

    def bwd(res, dy):
        # dX = conv(dY, flip(W)ᵀ) strided by s, dW = conv(dilate_s(X)ᵀ, dY), with planted bugs
        x, w = res
        pads = transpose_padding(padding, w.shape[:2], stride, dilation)
        extents = dilated_size(w.shape[:2], dilation)
        w_t = jnp.swapaxes(w, -1, -2)
        w_t = jnp.flip(w_t, (0, 1)) if flip_dx else w_t
        dx_pads = [(k - 1 - a, k - 1 - b) for (a, b), k in zip(pads, extents, strict=True)]
        dx = lax.conv_general_dilated(dy, w_t, stride, dx_pads, rhs_dilation=dilation,
                                      dimension_numbers=dn)  # fmt: skip
        dw = lax.conv_general_dilated(x, dy, dilation, pads, lhs_dilation=stride,
                                      dimension_numbers=dn_w)  # fmt: skip
        dw = jnp.flip(dw, (0, 1)) if flip_dw else dw
        return dx, dw, jnp.sum(dy, axis=(0, 1, 2))

    return bwd


@pytest.mark.parametrize(
    ("bug", "leaf"), [({}, None), (dict(flip_dx=False), "x"), (dict(flip_dw=True), "w")]
)
def test_planted_bugs_are_caught(bug, leaf):
    op = conv_transpose2d_op(**EXOTIC_2D).with_bwd(_conv_transpose2d_bwd(**EXOTIC_2D, **bug))
    report = verify_op(op, EXOTIC_2D_ARGS)
    if leaf is None:  # the harness with every switch off is the correct backward
        report.raise_if_failed()
        return
    # the hand-written JVP's adjoint test catches the wrong backward too, with no autodiff
    failed = {"adjoint" if e.check == "adjoint" else e.path for c in report.cases
              for e in c.errors if not e.passed}  # fmt: skip
    assert failed == {leaf, "adjoint"}
    with pytest.raises(VerificationError, match=rf"op 'conv_transpose2d'.* for '{leaf}': max"):
        report.raise_if_failed()
