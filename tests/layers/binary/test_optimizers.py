"""BinaryConnect's latent-weight clipping and Bop, as optax transformations."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.layers.binary import BinaryParams
from funcnet.layers.binary.optimizers import bop, bop_with, clip_latent_weights


def step(opt, params, grads, state=None):
    state = opt.init(params) if state is None else state
    updates, state = opt.update(grads, state, params)
    return optax.apply_updates(params, updates), state


def test_clipping_chains_after_adam_and_touches_latent_weights_only():
    params = (BinaryParams(jnp.array([0.95, -0.2, 0.0]), jnp.array([0.95])), jnp.array([0.95]))
    grads = (BinaryParams(-jnp.ones(3), -jnp.ones(1)), -jnp.ones(1))
    opt = optax.chain(optax.adam(0.1), clip_latent_weights())
    new, _ = step(opt, params, grads)
    np.testing.assert_allclose(new[0].w, [1.0, -0.1, 0.1], rtol=1e-5)  # 1.05 clipped to 1
    np.testing.assert_allclose(new[0].b, [1.05], rtol=1e-5)  # a bias is not a latent weight
    np.testing.assert_allclose(new[1], [1.05], rtol=1e-5)


def test_bop_flips_when_the_averaged_gradient_passes_the_threshold_with_the_weights_sign():
    w = jnp.array([1.0, 1.0, -1.0, -1.0])
    g = jnp.array([0.6, -0.6, -0.6, 0.2])
    opt = bop(threshold=0.25, gamma=0.5)
    new, state = step(opt, w, g)  # m = 0.5 g = [0.3, -0.3, -0.3, 0.1]
    np.testing.assert_array_equal(new, [-1.0, 1.0, 1.0, -1.0])
    new, _ = step(opt, new, jnp.zeros(4), state)  # m halves to [0.15, ...]: nothing flips
    np.testing.assert_array_equal(new, [-1.0, 1.0, 1.0, -1.0])


def test_bop_with_a_real_optimizer_and_bad_hyperparameters():
    params = {"binary": BinaryParams(jnp.array([1.0]), jnp.array([0.0])), "real": jnp.array([0.0])}
    grads = {"binary": BinaryParams(jnp.array([1.0]), jnp.array([1.0])), "real": jnp.array([1.0])}
    new, _ = step(bop_with(optax.sgd(0.5), threshold=0.1, gamma=1.0), params, grads)
    assert (float(new["binary"].w[0]), float(new["binary"].b[0]), float(new["real"][0])) == (
        -1.0,
        -0.5,
        -0.5,
    )
    with pytest.raises(ValueError, match=r"^bop: expected gamma in \(0, 1\], got 2.0."):
        bop(gamma=2.0)
    with pytest.raises(ValueError, match=r"^clip_latent_weights: expected limit to be positive"):
        clip_latent_weights(0.0)
