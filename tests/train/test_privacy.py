"""Privacy accounting: ε from the RDP accountant, noise calibration, Poisson-sampled batches,
and ``fit(dp=...)`` reporting ε."""

from __future__ import annotations

import math

import jax
import numpy as np
import optax
import pytest

from funcnet.data.dataset import make_dataset
from funcnet.layers import dense
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.train import DPSGD, dp_sgd_epsilon, fit, noise_for_epsilon, poisson_batches


def test_epsilon_grows_with_steps_and_rate_and_falls_with_noise():
    base = dp_sgd_epsilon(1.0, 0.05, 100, 1e-5)
    assert dp_sgd_epsilon(1.0, 0.05, 400, 1e-5) > base
    assert dp_sgd_epsilon(1.0, 0.1, 100, 1e-5) > base
    assert dp_sgd_epsilon(2.0, 0.05, 100, 1e-5) < base
    assert dp_sgd_epsilon(0.0, 0.05, 100, 1e-5) == math.inf
    assert dp_sgd_epsilon(1.0, 0.05, 0, 1e-5) == 0.0
    sigma = noise_for_epsilon(2.0, 0.05, 100, 1e-5)
    assert dp_sgd_epsilon(sigma, 0.05, 100, 1e-5) == pytest.approx(2.0, rel=1e-3)
    with pytest.raises(ValueError, match="sampling_rate"):
        dp_sgd_epsilon(1.0, 1.5, 10, 1e-5)


def test_poisson_batches_are_independent_draws_padded_with_a_mask():
    data = make_dataset(np.arange(200.0)[:, None].astype(np.float32), np.arange(200) % 3)
    drawn = list(poisson_batches(data, 0.1, key=jax.random.key(0), num_batches=40))
    sizes = [int(m.sum()) for _, _, m in drawn]
    assert len({x.shape[0] for x, _, _ in drawn}) == 1  # one padded shape
    assert len(set(sizes)) > 3 and 14 < np.mean(sizes) < 26  # they vary around q·n = 20
    x, t, mask = drawn[5]
    assert np.all(x[~mask] == 0) and np.all(t[mask] == x[mask, 0].astype(int) % 3)
    later = list(poisson_batches(data, 0.1, key=jax.random.key(0), num_batches=40, start=5))
    np.testing.assert_array_equal(later[0][0], x)  # a resumed epoch draws the same batches


def test_fit_with_dp_reports_the_epsilon_spent():
    rng = np.random.default_rng(0)
    data = make_dataset(rng.normal(size=(64, 3)).astype(np.float32), rng.integers(0, 2, 64))
    model = dense(2)
    _, params, state = model.init(jax.random.key(0), (16, 3))
    result = fit(model, softmax_cross_entropy_with_integer_labels(), optax.sgd(0.1), params,
                 state, data, key=jax.random.key(1), epochs=2, batch_size=16, progress=False,
                 dp=DPSGD(l2_clip=1.0, noise_multiplier=1.5))  # fmt: skip
    epsilons = [row["epsilon"] for row in result.history]
    with pytest.raises(ValueError, match=r"fit: expected dp .* or full_batch, got both"):
        fit(model, softmax_cross_entropy_with_integer_labels(), optax.sgd(0.1), params, state,
            data, key=jax.random.key(1), epochs=1, full_batch=True, dp=DPSGD(1.0, 1.5))  # fmt: skip
    assert epsilons == [pytest.approx(dp_sgd_epsilon(1.5, 0.25, 4 * e, 1e-5)) for e in (1, 2)]
    assert 0 <= result.history[-1]["train_clipped_fraction"] <= 1
