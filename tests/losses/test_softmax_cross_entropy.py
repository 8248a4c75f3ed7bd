"""Tests of funcnet/losses/softmax_cross_entropy.py (probability targets and integer labels)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.core.registry import Arg
from funcnet.losses import softmax_cross_entropy, softmax_cross_entropy_with_integer_labels
from funcnet.verify import VerificationError, verify_op
from tests.core.manual_jvp_path import assert_manual_jvp_matches_autodiff

NAME, NAME_INT = "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels"


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_uniform_logits_cost_log_c(backward):
    logits = jnp.full((5, 4), 0.7)
    targets = jax.random.dirichlet(jax.random.key(0), jnp.ones(4), (5,))
    assert float(softmax_cross_entropy()(logits, targets, backward=backward)) == pytest.approx(
        math.log(4), rel=1e-6
    )
    labels = jnp.array([0, 3, 2, 2, 1])
    value = softmax_cross_entropy_with_integer_labels()(logits, labels, backward=backward)
    assert float(value) == pytest.approx(math.log(4), rel=1e-6)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_known_value_and_fused_gradient(backward):
    # softmax([0, log 3]) = [¼, ¾]; label 1 costs −log ¾ and dz = p − onehot = [¼, −¼].
    logits = jnp.array([[0.0, math.log(3.0)]])
    for loss, target in [
        (softmax_cross_entropy(), jnp.array([[0.0, 1.0]])),
        (softmax_cross_entropy_with_integer_labels(), jnp.array([1])),
    ]:
        f = lambda z, loss=loss, target=target: loss(z, target, backward=backward)  # noqa: E731
        assert float(f(logits)) == pytest.approx(-math.log(0.75), rel=1e-6)
        np.testing.assert_allclose(jax.grad(f)(logits), [[0.25, -0.25]], rtol=1e-6)


@pytest.mark.parametrize("axis", [-1, 0])
def test_matches_optax(axis):
    with jax.enable_x64(True):
        kz, kt, kl = jax.random.split(jax.random.key(1), 3)
        z = 3 * jax.random.normal(kz, (2, 3, 4), jnp.float64)
        t = jax.nn.softmax(jax.random.normal(kt, z.shape, jnp.float64), axis=axis)
        batch_shape = z.shape[:axis] + z.shape[axis + 1 :] if axis >= 0 else z.shape[:axis]
        labels = jax.random.randint(kl, batch_shape, 0, z.shape[axis])
        pairs = [
            (
                softmax_cross_entropy(axis),
                lambda z, t: jnp.mean(optax.softmax_cross_entropy(z, t, axis=axis)),
                t,
            ),
            (
                softmax_cross_entropy_with_integer_labels(axis),
                lambda z, y: jnp.mean(
                    optax.softmax_cross_entropy_with_integer_labels(z, y, axis=axis)
                ),
                labels,
            ),
        ]
        for loss, reference, target in pairs:
            np.testing.assert_allclose(loss(z, target), reference(z, target), rtol=1e-12)
            np.testing.assert_allclose(
                jax.grad(loss)(z, target), jax.grad(reference)(z, target), rtol=1e-10, atol=1e-15
            )
        dt = jax.grad(softmax_cross_entropy(axis), argnums=1)(z, t)
        np.testing.assert_allclose(
            dt, jax.grad(pairs[0][1], argnums=1)(z, t), rtol=1e-10, atol=1e-15
        )


def test_rank1_logits_are_one_row():
    z, t = jnp.array([1.0, 2.0, 0.5]), jnp.array([0.2, 0.5, 0.3])
    np.testing.assert_allclose(
        softmax_cross_entropy()(z, t), optax.softmax_cross_entropy(z, t), rtol=1e-6
    )
    np.testing.assert_allclose(
        softmax_cross_entropy_with_integer_labels()(z, jnp.array(2)),
        optax.softmax_cross_entropy_with_integer_labels(z, jnp.array(2)),
        rtol=1e-6,
    )


def test_gradient_is_exact_for_unnormalised_targets():
    z = jnp.array([[0.3, -1.0, 2.0]])
    t = jnp.array([[2.0, 0.0, 1.0]])  # rows sum to 3, not 1
    manual = jax.grad(softmax_cross_entropy(), argnums=(0, 1))(z, t)
    auto = jax.grad(lambda z, t: softmax_cross_entropy()(z, t, backward="autodiff"), (0, 1))(z, t)
    np.testing.assert_allclose(manual[0], auto[0], rtol=1e-6)
    np.testing.assert_allclose(manual[1], auto[1], rtol=1e-6)
    p = jax.nn.softmax(z)
    np.testing.assert_allclose(manual[0], 3 * p - t, rtol=1e-6)  # not p − t


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
@pytest.mark.parametrize("magnitude", [100.0, 1e4])
def test_stable_at_extreme_logits(magnitude, backward):
    z = jnp.array([[magnitude, -magnitude, 0.0], [-magnitude, magnitude, magnitude]], jnp.float32)
    t = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], jnp.float32)  # confidently wrong
    labels = jnp.array([1, 0])
    for loss, target in [
        (softmax_cross_entropy(), t),
        (softmax_cross_entropy_with_integer_labels(), labels),
    ]:
        f = lambda z, loss=loss, target=target: loss(z, target, backward=backward)  # noqa: E731
        value, dz = jax.value_and_grad(f)(z)
        # Row 0 costs 2·magnitude, row 1 costs 2·magnitude + log 2.
        assert float(value) == pytest.approx((4 * magnitude + math.log(2.0)) / 2, rel=1e-6)
        assert bool(jnp.all(jnp.isfinite(dz)))
        np.testing.assert_allclose(
            dz, jnp.array([[1.0, -1.0, 0.0], [-1.0, 0.5, 0.5]]) / 2, atol=1e-6
        )


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_zero_targets_where_softmax_underflows(backward):
    # exp(−2e4) underflows to 0 in float32; 0 · log_softmax must still contribute exactly 0.
    z = jnp.array([[1e4, -1e4]], jnp.float32)
    t = jnp.array([[1.0, 0.0]], jnp.float32)
    loss = lambda z, t: softmax_cross_entropy()(z, t, backward=backward)  # noqa: E731
    value, (dz, dt) = jax.value_and_grad(loss, argnums=(0, 1))(z, t)
    assert float(value) == 0.0
    np.testing.assert_array_equal(dz, jnp.zeros((1, 2)))
    np.testing.assert_allclose(dt, [[0.0, 2e4]], rtol=1e-6)


def test_negative_label_counts_from_the_end_in_both_paths():
    z, labels = jnp.array([[0.1, 0.2, 0.9]]), jnp.array([-1])
    loss = softmax_cross_entropy_with_integer_labels()
    manual = jax.grad(loss)(z, labels)
    auto = jax.grad(lambda z: loss(z, labels, backward="autodiff"))(z)
    np.testing.assert_allclose(manual, auto, rtol=1e-6)
    np.testing.assert_allclose(manual, jax.grad(loss)(z, jnp.array([2])), rtol=1e-6)


@pytest.mark.parametrize(
    ("make", "axis", "logits", "target", "fragment"),
    [
        (softmax_cross_entropy, -1, jnp.zeros((3, 4)), jnp.zeros((3, 5)), "shape (3, 4)"),
        (softmax_cross_entropy, -1, jnp.zeros((3, 4), jnp.int32), jnp.zeros((3, 4)), "floating"),
        (softmax_cross_entropy, -1, jnp.zeros(()), jnp.zeros(()), "rank >= 1"),
        (softmax_cross_entropy, 2, jnp.zeros((3, 4)), jnp.zeros((3, 4)), "axis in [-2, 2)"),
        (softmax_cross_entropy, -1, jnp.zeros((3, 0)), jnp.zeros((3, 0)), "non-empty class"),
        (
            softmax_cross_entropy,
            -1,
            jnp.zeros((3, 4)),
            jnp.zeros((3, 4), jnp.bfloat16),
            "dtype float32",
        ),
        (NAME_INT, -1, jnp.zeros((3, 4)), jnp.zeros((4,), jnp.int32), "labels of shape (3,)"),
        (NAME_INT, 0, jnp.zeros((3, 4)), jnp.zeros((3,), jnp.int32), "labels of shape (4,)"),
        (NAME_INT, -1, jnp.zeros((3, 4)), jnp.zeros((3,)), "integer labels"),
        (NAME_INT, -1, jnp.zeros((3, 4), jnp.int32), jnp.zeros((3,), jnp.int32), "floating"),
        (NAME_INT, -1, jnp.zeros(()), jnp.zeros((), jnp.int32), "rank >= 1"),
        (NAME_INT, -3, jnp.zeros((3, 4)), jnp.zeros((3,), jnp.int32), "axis in [-2, 2)"),
    ],
)
def test_bad_inputs_raise(make, axis, logits, target, fragment):
    make = softmax_cross_entropy_with_integer_labels if make == NAME_INT else make
    loss = make(axis)
    for backward in ("manual", "autodiff"):
        with pytest.raises(ValueError, match=make.__name__) as info:
            loss(logits, target, backward=backward)
        assert fragment in str(info.value)


@pytest.mark.parametrize("make", [softmax_cross_entropy, softmax_cross_entropy_with_integer_labels])
@pytest.mark.parametrize("axis", [1.0, "-1", None, True])
def test_bad_axis_config_raises(make, axis):
    with pytest.raises(ValueError, match=f"{make.__name__}: expected axis to be an integer"):
        make(axis)


def test_planted_bug_missing_batch_factor_is_caught():
    op = softmax_cross_entropy_with_integer_labels()

    def bad_bwd(res, g):
        logp, _ = res
        dz, dlabels = op.bwd(res, g)
        return dz * (logp.size // logp.shape[-1]), dlabels  # undo the 1/B

    report = verify_op(op.with_bwd(bad_bwd))
    assert not report.passed
    with pytest.raises(VerificationError) as info:
        report.raise_if_failed()
    message = str(info.value)
    assert f"op '{NAME_INT}'" in message
    assert "autodiff check failed for 'logits'" in message


def test_planted_bug_p_minus_t_fails_only_on_unnormalised_targets():
    op = softmax_cross_entropy()

    def p_minus_t(res, g):
        logp, t = res
        b = logp.size // logp.shape[-1]
        return g * (jnp.exp(logp) - t) / b, -g * logp / b

    bad = op.with_bwd(p_minus_t)
    assert verify_op(bad, (Arg((5, 4)), Arg((5, 4), kind="simplex"))).passed
    unnormalised = verify_op(bad, (Arg((5, 4)), Arg((5, 4), "positive", 0.1, 1.0)))
    assert not unnormalised.passed
    with pytest.raises(VerificationError, match=f"op '{NAME}'.*check failed for 'logits'"):
        unnormalised.raise_if_failed()


def test_manual_jvp_path_matches_autodiff(x64):
    # the losses' JVP is the gradient row contracted with the tangents; labels are held fixed
    rng = np.random.default_rng(3)
    logits, labels = jnp.asarray(rng.normal(size=(3, 4))), jnp.array([0, 3, 1])
    targets = jnp.asarray(rng.dirichlet(np.ones(4), size=3))
    assert_manual_jvp_matches_autodiff(softmax_cross_entropy_with_integer_labels(), logits, labels)
    assert_manual_jvp_matches_autodiff(softmax_cross_entropy(), logits, targets)
