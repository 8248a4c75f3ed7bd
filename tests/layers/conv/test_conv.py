"""The convolution ops and layers: values, shapes, gradients, errors, planted bugs.

The layers' shapes, gradients, jit, vmap and bad input: the layer contract
(tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from funcnet.core.registry import Arg
from funcnet.layers import serial
from funcnet.layers._windows import (
    dimension_numbers,
    flatten_batch,
    grad_padding,
    resolve_padding,
    weight_grad_dimension_numbers,
)
from funcnet.layers.conv import (
    conv1d,
    conv1d_op,
    conv2d,
    conv2d_op,
    conv3d,
    conv3d_op,
    conv_transpose2d,
)
from funcnet.verify import VerificationError, verify_op
from tests.layers.forward_mode import assert_manual_jvp_path_matches_autodiff

KEY = jax.random.key(0)


def numpy_conv2d(x, w, b, stride, pads, dilation, groups):
    """A direct loop over output positions and channels, in float64."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)))
    w = np.asarray(w, np.float64)
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw, c_in, c_out = w.shape
    ext_h, ext_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    out_h, out_w = (x.shape[1] - ext_h) // sh + 1, (x.shape[2] - ext_w) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, c_out))
    for i in range(out_h):
        for j in range(out_w):
            for co in range(c_out):
                g = co // (c_out // groups)
                patch = x[:, i * sh : i * sh + ext_h : dh, j * sw : j * sw + ext_w : dw,
                          g * c_in : (g + 1) * c_in]  # fmt: skip
                y[:, i, j, co] = np.einsum("nabc,abc->n", patch, w[..., co])
    return y + np.asarray(b)


def test_values_match_a_numpy_loop_with_stride_padding_dilation_and_groups():
    layer = conv2d(4, (3, 2), stride=(2, 1), padding=((1, 2), (0, 1)), dilation=(1, 2), groups=2)
    out_shape, params, state = layer.init(KEY, (2, 6, 5, 4))
    params = params._replace(b=jnp.arange(4.0))
    x = jax.random.normal(jax.random.key(1), (2, 6, 5, 4))
    expected = numpy_conv2d(x, params.w, params.b, (2, 1), ((1, 2), (0, 1)), (1, 2), 2)
    assert out_shape == expected.shape == (2, 4, 4, 4)
    for backward in ("manual", "autodiff"):
        y, _ = layer.apply(params, state, x, backward=backward)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_conv1d_and_conv3d_match_lax():
    x1, w1 = jax.random.normal(KEY, (3, 9, 2)), jax.random.normal(KEY, (3, 2, 5))
    expected = lax.conv_general_dilated(x1, w1, (2,), ((1, 1),), dimension_numbers=("NWC",
                                        "WIO", "NWC"))  # fmt: skip
    np.testing.assert_allclose(conv1d_op(2, use_bias=False)(x1, w1), expected, rtol=1e-6)
    x3, w3 = jax.random.normal(KEY, (1, 4, 5, 6, 2)), jax.random.normal(KEY, (2, 3, 2, 2, 3))
    expected = lax.conv_general_dilated(x3, w3, (1, 1, 1), "VALID", rhs_dilation=(1, 1, 2),
                                        dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))  # fmt: skip
    got = conv3d_op(padding="VALID", dilation=(1, 1, 2), use_bias=False)(x3, w3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, (2, 7, 6, 5)),
        (dict(stride=2), (2, 4, 3, 5)),  # SAME: ⌈n / s⌉
        (dict(stride=3), (2, 3, 2, 5)),
        (dict(padding="VALID"), (2, 5, 4, 5)),
        (dict(padding="VALID", stride=2), (2, 3, 2, 5)),
        (dict(padding="VALID", dilation=2), (2, 3, 2, 5)),  # dilated window 5
        (dict(padding=((1, 2), (0, 0))), (2, 8, 4, 5)),
        (dict(padding=1, stride=(1, 2)), (2, 7, 3, 5)),
    ],
)
def test_output_shapes(kwargs, expected):
    layer = conv2d(5, 3, **kwargs)
    out_shape, params, state = layer.init(KEY, (2, 7, 6, 3))
    assert out_shape == expected
    assert layer.apply(params, state, jnp.ones((2, 7, 6, 3)))[0].shape == expected


def test_any_batch_axes_and_the_kernel_shapes():
    out_shape, params, _ = conv2d(6, 3, groups=3).init(KEY, (4, 2, 5, 5, 3))
    assert out_shape == (4, 2, 5, 5, 6)
    assert conv2d(6, 3, groups=3).init(KEY, (5, 5, 3))[0] == (5, 5, 6)
    assert params.w.shape == (3, 3, 1, 6) and params.b.shape == (6,)
    assert conv1d(2, 3, use_bias=False).init(KEY, (1, 8, 4))[1].b is None
    assert conv3d(2, (1, 2, 3)).init(KEY, (1, 3, 3, 3, 4))[1].w.shape == (1, 2, 3, 4, 2)


def test_vmap_over_single_examples_equals_the_batched_call():
    layer = conv2d(4, 3, stride=2)
    x = jax.random.normal(KEY, (3, 5, 6, 2))
    _, params, state = layer.init(KEY, x.shape)
    batched, _ = layer.apply(params, state, x)
    mapped = jax.vmap(lambda example: layer.apply(params, state, example)[0])(x)
    np.testing.assert_allclose(mapped, batched, rtol=1e-5, atol=1e-6)


def test_default_initialiser_is_lecun_normal_over_the_receptive_field():
    _, params, _ = conv2d(128, 3, groups=2).init(KEY, (1, 8, 8, 64))
    fan_in = 3 * 3 * 32
    assert float(jnp.var(params.w)) == pytest.approx(1 / fan_in, rel=0.05)


def test_same_padding_resolution_matches_lax():
    for size, k, s, d in [(7, 3, 2, 1), (6, 4, 3, 1), (5, 3, 1, 2), (8, 2, 3, 3)]:
        lax_pads = lax.padtype_to_pads((size,), (d * (k - 1) + 1,), (s,), "SAME")
        assert resolve_padding("conv1d", "SAME", (size,), (k,), (s,), (d,)) == tuple(lax_pads)


# A configuration not in the registry (float64; the registry test covers float32): depthwise
# with channel multiplier 2, strides, dilation and asymmetric padding at once. The planted bugs
# below reuse it, so its compiled kernels are shared.
EXOTIC_2D = dict(stride=(2, 1), padding=((0, 2), (2, 1)), dilation=(1, 2), groups=4)
EXOTIC_2D_ARGS = (Arg((2, 7, 6, 4)), Arg((2, 3, 1, 8)), Arg((8,)))


def test_manual_backward_matches_autodiff_on_an_extra_configuration():
    verify_op(conv2d_op(**EXOTIC_2D), EXOTIC_2D_ARGS).raise_if_failed()


@pytest.mark.parametrize("groups", [1, 2])
def test_weight_gradient_summed_over_batch_chunks_is_exact(x64, groups):
    # K = 18·24·20 = 8,640 terms per weight-gradient entry: summed over 4 uneven batch chunks.
    from funcnet.layers.conv._chunks import batch_chunks

    assert [hi - lo for lo, hi in batch_chunks(18, 18 * 24 * 20)] == [4, 5, 4, 5]
    op = conv2d_op(stride=(1, 2), groups=groups)
    kx, kw, kd = jax.random.split(KEY, 3)
    x = jax.random.normal(kx, (18, 24, 40, 2), jnp.float64)
    w = jax.random.normal(kw, (3, 3, 2 // groups, 4), jnp.float64)
    b = jnp.zeros((4,), jnp.float64)
    y, vjp_manual = jax.vjp(op.manual, x, w, b)
    dy = jax.random.normal(kd, y.shape, jnp.float64)
    _, vjp_autodiff = jax.vjp(op.forward, x, w, b)
    for manual, autodiff in zip(vjp_manual(dy), vjp_autodiff(dy), strict=True):
        np.testing.assert_allclose(manual, autodiff, rtol=1e-12, atol=1e-10)


def _apply(layer, x, input_shape=(2, 5, 5, 3)):
    _, params, state = layer.init(KEY, input_shape)
    return layer.apply(params, state, x)


BAD = {
    "channels_groups": lambda: conv2d(4, 3, groups=2).init(KEY, (2, 5, 5, 3)),
    "features_groups": lambda: conv2d(3, 3, groups=2),
    "kernel_too_large": lambda: conv2d(2, 5, padding="VALID").init(KEY, (1, 4, 6, 1)),
    "dilated_too_large": lambda: conv1d(2, 3, dilation=3, padding="VALID").init(KEY, (1, 6, 1)),
    "zero_stride": lambda: conv2d(2, 3, stride=0),
    "negative_dilation": lambda: conv2d(2, 3, dilation=(1, -1)),
    "zero_kernel": lambda: conv2d(2, 0),
    "kernel_length": lambda: conv2d(2, (3, 3, 3)),
    "zero_groups": lambda: conv2d(2, 3, groups=0),
    "zero_features": lambda: conv3d(0, 3),
    "padding_name": lambda: conv2d(2, 3, padding="FULL"),
    "padding_pairs": lambda: conv2d(2, 3, padding=((1, 2),)),
    "padding_triple": lambda: conv2d(2, 3, padding=((1, 2, 3), (0, 0))),
    "padding_negative": lambda: conv1d(2, 3, padding=((-1, 0),)),
    "dtype_mismatch": lambda: _apply(conv2d(2, 3), jnp.ones((2, 5, 5, 3), jnp.float16)),
    "param_dtype": lambda: conv2d(2, 3, dtype=jnp.int32),
    "op_kernel_rank": lambda: conv2d_op()(jnp.ones((1, 5, 5, 2)), jnp.ones((3, 2, 2)), jnp.ones(2)),
    "op_bias_shape": lambda: conv1d_op()(jnp.ones((1, 5, 2)), jnp.ones((3, 2, 4)), jnp.ones(3)),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_inputs_raise_value_errors_naming_the_layer(case):
    with pytest.raises(ValueError, match=r"^conv[123]d: expected .* got "):
        BAD[case]()


@pytest.mark.parametrize(
    "make",
    [lambda: conv1d(2, 3, stride=1.5), lambda: conv2d(2, "3"), lambda: conv2d(2, 3, padding=1.0)],
    ids=["float_stride", "string_kernel", "float_padding"],
)
def test_options_of_the_wrong_kind_raise_type_errors_naming_the_layer(make):
    with pytest.raises(TypeError, match=r"^conv[123]d: expected .* got "):
        make()


def _conv2d_bwd(stride, padding, dilation, groups, flip_dx=True, flip_dw=False, group_dw=True):
    """The conv2d backward with a switch per planted bug."""
    dn, dn_w = dimension_numbers(2), weight_grad_dimension_numbers(2)

    def bwd(res, dy):
        # dX = conv(dilate_s(dY), flip(W)ᵀ), dW = conv(Xᵀ, dY), with planted bugs
        x, w = res
        dx_pads, dw_pads = grad_padding(x.shape[1:3], w.shape[:2], stride, dilation, padding)
        (kh, kw, c_in, c_out), g = w.shape, groups
        w_t = w.reshape(kh, kw, c_in, g, c_out // g).transpose(0, 1, 4, 3, 2)
        w_t = w_t.reshape(kh, kw, c_out // g, g * c_in)
        w_t = jnp.flip(w_t, (0, 1)) if flip_dx else w_t
        dx = lax.conv_general_dilated(dy, w_t, (1, 1), dx_pads, lhs_dilation=stride,
                                      rhs_dilation=dilation, dimension_numbers=dn,
                                      feature_group_count=g)  # fmt: skip
        dw_args = (x, dy, dilation, dw_pads)
        if group_dw:
            dw = lax.conv_general_dilated(*dw_args, rhs_dilation=stride, dimension_numbers=dn_w,
                                          batch_group_count=g)  # fmt: skip
        else:  # every output channel paired with the first group's input channels
            dw = lax.conv_general_dilated(*dw_args, rhs_dilation=stride,
                                          dimension_numbers=dn_w)[:, :, :c_in]  # fmt: skip
        dw = jnp.flip(dw, (0, 1)) if flip_dw else dw
        return dx, dw, jnp.sum(dy, axis=(0, 1, 2))

    return bwd


def test_the_planted_bug_harness_is_correct_with_every_switch_off():
    good = conv2d_op(**EXOTIC_2D).with_bwd(_conv2d_bwd(**EXOTIC_2D))
    verify_op(good, EXOTIC_2D_ARGS).raise_if_failed()


@pytest.mark.parametrize(
    ("bug", "leaf"),
    [(dict(flip_dx=False), "x"), (dict(flip_dw=True), "w"), (dict(group_dw=False), "w")],
    ids=["dx_without_flip", "dw_flipped", "dw_without_groups"],
)
def test_planted_bugs_are_caught(bug, leaf):
    bad = conv2d_op(**EXOTIC_2D).with_bwd(_conv2d_bwd(**EXOTIC_2D, **bug))
    report = verify_op(bad, EXOTIC_2D_ARGS)
    assert not report.passed
    # the hand-written JVP's adjoint test catches the wrong backward too, with no autodiff
    failed = {"adjoint" if e.check == "adjoint" else e.path for c in report.cases
              for e in c.errors if not e.passed}  # fmt: skip
    assert failed == {leaf, "adjoint"}
    with pytest.raises(VerificationError, match=rf"op 'conv2d'.* for '{leaf}': max rel err"):
        report.raise_if_failed()


def test_flatten_batch_keeps_the_spatial_and_channel_axes():
    assert flatten_batch(jnp.ones((2, 3, 5, 4, 6)), 2).shape == (6, 5, 4, 6)
    assert flatten_batch(jnp.ones((5, 4)), 1).shape == (1, 5, 4)


@pytest.mark.parametrize("make", [conv1d, conv2d, conv_transpose2d])
def test_b_init_without_a_bias_is_a_type_error_not_ignored(make):
    with pytest.raises(TypeError, match=r"^conv\w+: b_init applies only with use_bias=True"):
        make(2, 3, use_bias=False, b_init=jax.nn.initializers.ones)


def test_forward_and_reverse_mode_on_the_manual_jvp_path_match_autodiff():
    # both kinds in one model, compiled once: strided, dilated, grouped; strided "VALID" transpose
    layer = serial(
        conv2d(4, (3, 2), stride=2, dilation=(1, 2), groups=2, dtype=jnp.float64),
        conv_transpose2d(2, 3, stride=2, padding="VALID", dtype=jnp.float64),
    )
    assert_manual_jvp_path_matches_autodiff(layer, (2, 5, 5, 2))
