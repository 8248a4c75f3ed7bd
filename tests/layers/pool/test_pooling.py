"""Max and average pooling: values and gradients against NumPy loops, ties, the fast path,
batch axes, errors, residuals and planted bugs. The registry cases are verified by
tests/core/test_registry.py (manual vs autodiff vs finite differences, float64 and float32);
shapes, jit, vmap and bad input by the layer contract (tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core import registry
from funcnet.core.op import make_op
from funcnet.core.registry import Arg
from funcnet.layers.pool._geometry import offset_grid, pool_geometry, spread_windows
from funcnet.layers.pool.avg_pool import _avg_pool_op, avg_pool1d, avg_pool2d, avg_pool2d_op
from funcnet.layers.pool.max_pool import _max_pool_op, max_pool1d, max_pool2d, max_pool2d_op
from funcnet.verify import VerificationError, verify_op
from tests.layers.forward_mode import assert_manual_jvp_path_matches_autodiff
from tests.layers.pool.numpy_pool import np_max_pool_grad, np_pool

LAYERS = {
    "max_pool1d": max_pool1d,
    "max_pool2d": max_pool2d,
    "avg_pool1d": avg_pool1d,
    "avg_pool2d": avg_pool2d,
}
OPS = {"max": _max_pool_op, "avg": _avg_pool_op}

# (spatial shape, window, stride, padding): tiling, overlapping, gaps, SAME, explicit pads
CONFIGS = [
    ((7,), 2, None, "VALID"),
    ((7,), 3, 2, "SAME"),
    ((6,), 3, 1, (1, 2)),
    ((5, 7), 2, None, "VALID"),
    ((5, 6), 3, 2, "SAME"),
    ((4, 5), (2, 3), (1, 2), ((1, 0), (2, 1))),
    ((7, 7), 2, 3, "VALID"),
]
TILING = [  # stride == window: the fast path applies
    ((7,), 3, None, (1, 1)),
    ((5, 7), 2, None, "VALID"),
    ((5, 5), 2, None, "SAME"),
    ((4, 5), (2, 3), None, ((1, 0), (0, 2))),
]


def _vjps(op, x, dy):
    return jax.vjp(op, x)[1](dy)[0], jax.vjp(op.forward, x)[1](dy)[0]


@pytest.mark.parametrize(("spatial", "window", "stride", "padding"), CONFIGS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_values_and_gradients_match_numpy_loops(kind, spatial, window, stride, padding):
    with jax.enable_x64(True):
        op = OPS[kind]("pool", len(spatial), window, stride, padding)
        x = np.random.default_rng(0).normal(size=(2, *spatial, 3))
        expected, routes = np_pool(x, window, stride, padding, kind)
        y = op(jnp.asarray(x))
        np.testing.assert_allclose(y, expected, rtol=1e-14)
        dy = np.random.default_rng(1).normal(size=expected.shape)
        manual, autodiff = _vjps(op, jnp.asarray(x), jnp.asarray(dy))
        np.testing.assert_allclose(manual, autodiff, rtol=1e-14, atol=1e-15)
        if kind == "max":
            np.testing.assert_allclose(manual, np_max_pool_grad(x, dy, routes), atol=1e-15)


@pytest.mark.parametrize(("spatial", "window", "stride", "padding"), CONFIGS)
def test_ties_route_to_the_first_maximum_in_scan_order(spatial, window, stride, padding):
    # Constant input: every window is a tie. jax.grad of lax.reduce_window max sends each
    # window's dy to its first element (select_and_scatter_add keeps the current while ≥).
    with jax.enable_x64(True):
        op = _max_pool_op("max_pool", len(spatial), window, stride, padding)
        x = np.ones((2, *spatial, 2))
        y, routes = np_pool(x, window, stride, padding, "max")
        dy = np.arange(1.0, 1.0 + y.size).reshape(y.shape)  # integers: the sums are exact
        manual, autodiff = _vjps(op, jnp.asarray(x), jnp.asarray(dy))
        np.testing.assert_array_equal(manual, autodiff)
        np.testing.assert_array_equal(manual, np_max_pool_grad(x, dy, routes))


def test_each_window_sends_exactly_one_unit_on_a_constant_input():
    with jax.enable_x64(True):
        x = jnp.ones((1, 5, 5, 1))
        op = max_pool2d_op(3, 1)  # nine overlapping windows, all ties
        basis = jnp.eye(9).reshape(9, 1, 3, 3, 1)
        for pullback in (jax.vjp(op, x)[1], jax.vjp(op.forward, x)[1]):
            dxs = jax.vmap(lambda dy, pb=pullback: pb(dy)[0])(basis)
            for k, dx in enumerate(dxs):
                (i, j) = divmod(k, 3)
                expected = jnp.zeros((1, 5, 5, 1)).at[0, i, j, 0].set(1.0)  # window's top-left
                np.testing.assert_array_equal(dx, expected)
        dx = jax.grad(lambda x: op(x).sum())(jnp.ones((1, 4, 4, 1)))
        np.testing.assert_array_equal(
            dx[0, :, :, 0], [[1, 1, 0, 0], [1, 1, 0, 0], [0] * 4, [0] * 4]
        )


def test_a_two_way_tie_goes_to_the_earlier_element():
    with jax.enable_x64(True):
        x = jax.random.uniform(jax.random.key(0), (1, 4, 4, 1), jnp.float64)
        x = x.at[0, 0, 1, 0].set(5.0).at[0, 1, 0, 0].set(5.0)  # a tie in window (0, 0)
        for op in (max_pool2d_op(2), _max_pool_op("max_pool2d", 2, 2, None, "VALID", fast=False)):
            manual, autodiff = _vjps(op, x, jnp.full((1, 2, 2, 1), 3.0))
            np.testing.assert_array_equal(manual, autodiff)
            assert manual[0, 0, 1, 0] == 3.0 and manual[0, 1, 0, 0] == 0.0
            assert float(jnp.sum(manual[0, :2, :2, 0])) == 3.0


@pytest.mark.parametrize(("spatial", "window", "stride", "padding"), TILING)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_fast_and_general_backward_agree_exactly(kind, spatial, window, stride, padding):
    with jax.enable_x64(True):
        fast = OPS[kind]("pool", len(spatial), window, stride, padding)
        general = OPS[kind]("pool", len(spatial), window, stride, padding, fast=False)
        assert pool_geometry("pool", len(spatial), window, stride, padding).tiles
        rng = np.random.default_rng(0)
        x = jnp.asarray(np.round(rng.normal(size=(2, *spatial, 3)), 1))  # many ties
        y, pullback = jax.vjp(fast, x)
        dy = jnp.asarray(rng.normal(size=y.shape))
        (dx_fast,), (dx_general,) = pullback(dy), jax.vjp(general, x)[1](dy)
        np.testing.assert_array_equal(dx_fast, dx_general)
        np.testing.assert_allclose(dx_fast, jax.vjp(fast.forward, x)[1](dy)[0], rtol=1e-15)


def test_residuals_are_indices_and_shapes_not_the_input():
    x = jnp.ones((2, 8, 8, 3))
    y, (idx, witness) = max_pool2d_op(2).fwd(x)
    assert idx.dtype == jnp.int32 and idx.shape == y.shape == (2, 4, 4, 3)
    assert witness.size == 0 and witness.shape[1:] == x.shape
    _, res = avg_pool2d_op(2).fwd(x)
    assert [r.size for r in res] == [0]


def test_average_counts_only_input_elements():
    x = jnp.array([[[1.0], [3.0], [2.0], [6.0], [4.0]]])
    y, _ = avg_pool1d(2, padding="SAME").apply((), (), x)  # pads (0, 1)
    np.testing.assert_allclose(y[0, :, 0], [2.0, 4.0, 4.0])
    dx = jax.grad(lambda x: avg_pool1d(3, 1, padding=1).apply((), (), x)[0].sum())(x)
    # window counts 2, 3, 3, 3, 2: x[0] is in windows 0, 1 -> 1/2 + 1/3
    np.testing.assert_allclose(dx[0, :, 0], [5 / 6, 7 / 6, 1.0, 7 / 6, 5 / 6], rtol=1e-6)


@pytest.mark.parametrize(
    ("layer", "input_shape", "expected"),
    [
        (max_pool2d(2), (8, 28, 28, 16), (8, 14, 14, 16)),
        (max_pool2d(3, 2, "SAME"), (2, 7, 8, 3), (2, 4, 4, 3)),
        (avg_pool2d((2, 3), 1, ((1, 0), (2, 2))), (2, 5, 5, 1), (2, 5, 7, 1)),
        (max_pool1d(3, 2), (4, 10, 2), (4, 4, 2)),
        (avg_pool1d(2, padding=(1, 0)), (1, 5, 3), (1, 3, 3)),
        (max_pool2d(2), (2, 3, 4, 6, 1), (2, 3, 2, 3, 1)),
        (avg_pool1d(2), (6, 2), (3, 2)),
    ],
)
def test_output_shapes(layer, input_shape, expected):
    # that apply agrees with init is the layer contract's (tests/core/test_layer_registry.py)
    assert layer.init(jax.random.key(0), input_shape) == (expected, (), ())


@pytest.mark.parametrize("name", list(LAYERS))
def test_any_leading_batch_axes_and_vmap_over_single_examples(name):
    # Issue 13's bug: the pools took exactly one batch axis while conv2d took any number.
    ndim = int(name[-2])
    layer = LAYERS[name](3, 2, "SAME")
    x = jax.random.normal(jax.random.key(0), (2, 3, *(5,) * ndim, 2))
    y, _ = layer.apply((), (), x)
    assert y.shape == (2, 3, *(3,) * ndim, 2) == layer.init(jax.random.key(0), x.shape)[0]
    each = jnp.stack([layer.apply((), (), x[i])[0] for i in range(2)])
    np.testing.assert_array_equal(y, each)
    mapped = jax.vmap(jax.vmap(lambda example: layer.apply((), (), example)[0]))(x)
    np.testing.assert_allclose(mapped, y, rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(layer.apply((), (), x)[0] ** 2))(x)
    g_each = jax.vmap(jax.grad(lambda x: jnp.sum(layer.apply((), (), x)[0] ** 2)))(x[0])
    np.testing.assert_allclose(g[0], g_each, rtol=1e-6)


@pytest.mark.parametrize("name", list(LAYERS))
def test_a_window_larger_than_the_input_is_an_error(name):
    ndim = int(name[-2])
    with pytest.raises(ValueError, match=rf"{name}: expected a window \(5,.* no larger than"):
        LAYERS[name](5).apply((), (), jnp.ones((2, *(4,) * ndim, 3)))


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(window=0), ValueError, "expected window to be a positive integer or a tuple of"),
        (dict(window=-2), ValueError, "expected window to be a positive integer"),
        (dict(window=(2, 2, 2)), ValueError, "expected window to be a positive integer or a"),
        (dict(window=2.0), TypeError, "expected window to be a positive integer"),
        (dict(window=2, stride=0), ValueError, "expected stride to be a positive integer"),
        (dict(window=2, padding="FULL"), ValueError, "expected padding to be 'VALID', 'SAME' or"),
        (dict(window=2, padding=((1, 1),) * 3), ValueError, "expected padding to be 'VALID'"),
        (dict(window=2, padding=-1), ValueError, "expected padding to be 'VALID', 'SAME' or"),
        (dict(window=2, padding=1.5), TypeError, "expected padding to be 'VALID', 'SAME' or"),
        (dict(window=2, padding=2), ValueError, r"expected padding below the window size 2 .*"),
    ],
)
def test_bad_hyperparameters_raise_errors_naming_the_layer(name, kwargs, error, message):
    with pytest.raises(error, match=f"{name}: {message}"):
        LAYERS[name](**kwargs)


# Planted bugs. A constant input ties every window: only there do the tie rules differ. The
# max is not differentiable at a tie, so finite differences disagree with every backward; the
# comparison with autodiff is what pins the tie rule.
TIED = (Arg((2, 4, 6, 2), low=1.0, high=1.0),)
GEOM = pool_geometry("max_pool2d", 2, 2, None, "VALID")


def _tie_bug(rule):
    """A 2×2 max pool whose fwd saves x and whose bwd sends dy to all ties or the last one."""
    op = max_pool2d_op(2)

    def fwd(x):
        return op.forward(x), (x,)

    def bwd(res, dy):
        # dx = Sᵀ dy with a wrong S: the planted bug
        (x,) = res
        n, h, w, c = x.shape
        xt = x.reshape(n, h // 2, 2, w // 2, 2, c)
        ties = xt == jnp.max(xt, axis=(2, 4), keepdims=True)
        if rule == "last":
            k = offset_grid(GEOM)
            ties = ties & (k == jnp.max(jnp.where(ties, k, -1), axis=(2, 4), keepdims=True))
        dyt = dy.reshape(n, h // 2, 1, w // 2, 1, c)
        return (jnp.where(ties, dyt, 0.0).reshape(x.shape),)

    return make_op("max_pool2d", op.forward, fwd, bwd)


@pytest.mark.parametrize(
    "bad", [_tie_bug("all"), _tie_bug("last")], ids=["spread_to_all_ties", "last_max"]
)
def test_wrong_tie_rules_are_caught(bad):
    report = verify_op(bad, TIED)
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert ("autodiff", "x") in failed
    with pytest.raises(VerificationError) as err:
        report.raise_if_failed()
    assert "op 'max_pool2d'" in str(err.value) and "autodiff check failed for 'x'" in str(err.value)
    # the real backward agrees with autodiff on the same tied input
    good = verify_op(max_pool2d_op(2), TIED)
    assert all(e.passed for c in good.cases for e in c.errors if e.check == "autodiff")


def test_average_backward_without_the_division_is_caught():
    op = avg_pool2d_op(3, 2, "SAME")  # window counts 4, 6 and 9
    geom = pool_geometry("avg_pool2d", 2, 3, 2, "SAME")

    def bwd_without_count(res, dy):
        # dx = Aᵀ dy with A missing its 1/|W_o|: the planted bug
        shape = res[0].shape[1:]
        pads, _ = geom.check(shape)
        return (spread_windows([dy] * geom.size, geom, pads, shape[1:-1]),)  # one batch axis

    report = verify_op(op.with_bwd(bwd_without_count), (Arg((2, 5, 6, 2)),))
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert {("autodiff", "x"), ("finite_differences", "x")} <= failed
    with pytest.raises(VerificationError, match=r"op 'avg_pool2d'.*check failed for 'x'"):
        report.raise_if_failed()


@pytest.mark.parametrize("name", ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"])
def test_registered_cases_cover_the_geometries(name):
    labels = {c.label for c in registry.cases(name)}
    assert {"window2", "overlap3_stride1", "same3_stride2"} <= labels
    assert any("non_divisible" in label for label in labels)


def test_manual_jvp_path_matches_autodiff_and_keeps_the_tie_rule():
    # forward mode picks each window's tangent at its first maximum, where the backward sends dy
    assert_manual_jvp_path_matches_autodiff(max_pool2d(3, 2, "SAME"), (1, 4, 3, 1))
    with jax.enable_x64(True):
        op, x = max_pool2d_op(3, 1), jnp.ones((1, 4, 5, 2))  # overlapping windows, all ties
        v = jnp.arange(1.0, 1.0 + x.size).reshape(x.shape)
        manual = jax.jvp(lambda x: op(x, backward="manual_jvp"), (x,), (v,))[1]
        np.testing.assert_array_equal(manual, jax.jvp(op.forward, (x,), (v,))[1])
        np.testing.assert_array_equal(manual, v[:, :2, :3])  # each window's top-left
