"""verify_model: planted bugs named by parameter leaf; a finite-difference floor set from the
loss's measured rounding noise, with bugs still caught."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.layer import Layer
from funcnet.layers import dense, embedding, global_avg_pool, serial
from funcnet.layers.dense import DenseParams, dense_op
from funcnet.losses import mean_squared_error, softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train.precision import Policy, mixed_precision
from funcnet.verify import VerificationError, tolerances, verify_model

CROSS_ENTROPY = softmax_cross_entropy_with_integer_labels()


def _buggy_dense(features, dw_scale=1.0, transpose_dw=False):
    """A dense layer whose op has a planted bug in dW."""

    def bwd(res, dy):
        # dX = dY Wᵀ, dW = Xᵀ dY (planted: scaled or transposed), db = Σ dY
        x, w = res
        dw = x.T @ dy
        return dy @ w.T, dw.T if transpose_dw else dw_scale * dw, dy.sum(0)

    op, base = dense_op().with_bwd(bwd), dense(features)

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        return op(x, params.w, params.b, backward=backward), state

    return Layer("buggy_dense", base.init, apply)


def test_verify_model_names_the_parameter_leaf_of_a_planted_bug():
    model = serial(dense(3), _buggy_dense(3, transpose_dw=True))
    _, params, state = model.init(jax.random.key(0), (6, 3))
    batch = (jax.random.normal(jax.random.key(1), (6, 3)), jnp.zeros((6, 3)))
    report = verify_model(model, params, state, batch, mean_squared_error())
    failed = {e.path for e in report.cases[0].errors if not e.passed}
    assert failed == {"[1].w"}  # the buggy layer's dx is right, so layer 0 stays correct
    with pytest.raises(VerificationError, match=r"\[1\]\.w"):
        report.raise_if_failed()


def test_verify_model_passes_a_correct_model_at_the_fixed_tolerance():
    model = serial(dense(5), dense(2))
    _, params, state = model.init(jax.random.key(0), (4, 3))
    batch = (jax.random.normal(jax.random.key(1), (4, 3)), jnp.ones((4, 2)))
    report = verify_model(model, params, state, batch, mean_squared_error()).raise_if_failed()
    errors = report.cases[0].errors
    assert {"[0].w", "[0].b", "[1].w", "[1].b"} <= {e.path for e in errors}
    assert report.cases[0].max_rel_err("autodiff") <= 1e-10
    assert isinstance(params[0], DenseParams)
    # the rounding noise of a 27-parameter loss is far below 1e-6 of its derivatives
    assert {e.tolerance for e in errors if e.check == "finite_differences"} == {1e-6}


VOCAB, FEATURES, BATCH = 300, 8, 8


def _cbow(last=None):
    """A small word2vec CBOW: ids [B, 6] -> embedding -> mean -> dense(V) -> cross-entropy."""
    model = serial(
        embedding(VOCAB, FEATURES), global_avg_pool(num_position_axes=1), last or dense(VOCAB)
    )
    _, params, state = model.init(jax.random.key(0), (BATCH, 6))
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, VOCAB, (BATCH, 6), dtype=np.int32),
             rng.integers(0, VOCAB, BATCH, dtype=np.int32))  # fmt: skip
    return model, params, state, batch


def test_the_finite_difference_floor_follows_the_losss_rounding_noise():
    # Seed 7's direction for the embedding table (2,400 parameters, 48 rows touched) has a
    # directional derivative so small that the loss's rounding puts the finite difference
    # 1.6e-6 away: the fixed 1e-6 failed this correct model; the measured floor passes it.
    model, params, state, batch = _cbow()
    report = verify_model(model, params, state, batch, CROSS_ENTROPY, seed=7).raise_if_failed()
    fd = {e.path: e for e in report.cases[0].errors if e.check == "finite_differences"}
    assert fd["[0].table"].max_rel_err > 1e-6
    assert 1e-6 < fd["[0].table"].tolerance < 1e-3


def test_a_one_percent_error_in_dw_is_still_caught_by_finite_differences():
    model, params, state, batch = _cbow(_buggy_dense(VOCAB, dw_scale=1.01))
    report = verify_model(model, params, state, batch, CROSS_ENTROPY, seed=7)
    failed = {(e.check, e.path) for e in report.cases[0].errors if not e.passed}
    assert failed == {("autodiff", "[2].w"), ("finite_differences", "[2].w")}


def test_a_mixed_precision_model_is_verified_in_its_compute_dtype():
    # It computes in bfloat16 whatever its parameters' dtype: finite differences of the float64
    # promotion measured bfloat16's rounding steps (max rel err 1, labelled float64). Verified
    # in bfloat16 against the same model computed in float64, at bfloat16's tolerances.
    model = mixed_precision(mlp((16,), 3), Policy(jnp.bfloat16))
    _, params, state = model.init(jax.random.key(0), (8, 4))
    batch = (jax.random.normal(jax.random.key(1), (8, 4)), jnp.array([0, 1, 2, 0, 1, 2, 0, 1]))
    report = verify_model(model, params, state, batch, CROSS_ENTROPY).raise_if_failed()
    case = report.cases[0]
    assert case.dtype == "bfloat16"
    assert min(e.tolerance for e in case.errors) == tolerances(jnp.bfloat16).autodiff
    assert 1e-4 < case.max_rel_err("autodiff") < 0.05  # bfloat16's rounding, not float64's


def test_a_planted_bug_in_a_mixed_precision_model_is_caught():
    model = mixed_precision(
        serial(dense(4), _buggy_dense(4, transpose_dw=True)), Policy(jnp.bfloat16)
    )
    _, params, state = model.init(jax.random.key(0), (8, 4))
    batch = (jax.random.normal(jax.random.key(1), (8, 4)), jnp.zeros((8, 4)))
    report = verify_model(model, params, state, batch, mean_squared_error())
    failed = {(e.check, e.path) for e in report.cases[0].errors if not e.passed}
    assert ("autodiff", "[1].w") in failed and {path for _, path in failed} == {"[1].w"}
