"""Covariance pooling: values against NumPy and SciPy, its registered configurations (shapes,
manual vs autodiff vs finite differences, vmap), rank-deficient features, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from funcnet.core.layer_registry import layer_cases, missing_layer_cases
from funcnet.layers.matrix import covariance_pool
from funcnet.verify.sampling import draw_arg
from tests.layers.forward_mode import assert_manual_jvp_path_matches_autodiff

REFERENCES = {
    "log": scipy.linalg.logm,
    "sqrt": scipy.linalg.sqrtm,
    "newton_schulz": scipy.linalg.sqrtm,  # converged after enough iterations
}


def reference_pool(x, normalization, eps):
    """NumPy covariance (1/N) + εI, SciPy's matrix function, upper triangle, per example."""
    x = np.asarray(x, np.float64)
    c = x.shape[-1]
    flat = x.reshape(-1, x.shape[-2], c)
    out = []
    for features in flat:
        sigma = np.cov(features, rowvar=False, bias=True) + eps * np.eye(c)
        out.append(np.real(REFERENCES[normalization](sigma))[np.triu_indices(c)])
    return np.stack(out).reshape(*x.shape[:-2], c * (c + 1) // 2)


@pytest.mark.parametrize("normalization", REFERENCES)
def test_values_match_numpy_and_scipy_with_two_batch_axes(normalization, x64):
    x = jax.random.normal(jax.random.key(0), (2, 3, 12, 4))
    iterations = {"num_iterations": 20} if normalization == "newton_schulz" else {}
    layer = covariance_pool(normalization, eps=0.05, **iterations)
    shape, params, state = layer.init(jax.random.key(1), x.shape)
    y, _ = jax.jit(lambda x: layer.apply(params, state, x))(x)
    assert shape == y.shape == (2, 3, 10)
    np.testing.assert_allclose(y, reference_pool(x, normalization, 0.05), atol=1e-12)


def test_image_positions_are_flattened_row_major(x64):
    x = jax.random.normal(jax.random.key(2), (2, 3, 5, 4))  # [batch, H, W, C]
    image = covariance_pool("log", num_position_axes=2)
    sequence = covariance_pool("log")
    both = jax.jit(lambda x: (image.apply((), (), x)[0],
                              sequence.apply((), (), x.reshape(2, 15, 4))[0]))  # fmt: skip
    y, expected = both(x)
    np.testing.assert_allclose(y, expected, atol=1e-14)
    assert image.init(None, x.shape)[0] == (2, 10)


def test_registered_configurations_match_autodiff_and_vmap(x64):
    # The ops inside are checked against finite differences by the registry contract test.
    assert "covariance_pool" not in missing_layer_cases()
    for case in layer_cases("covariance_pool"):
        x = draw_arg(case.input, np.random.default_rng(0), jnp.float64)
        shape, params, state = case.layer.init(jax.random.key(0), x.shape)
        r = jnp.asarray(np.random.default_rng(1).standard_normal(shape))

        def checks(x, case=case, params=params, state=state, r=r):
            def loss(x, backward):
                return jnp.sum(r * case.layer.apply(params, state, x, backward=backward)[0])

            one = jax.vmap(lambda xi: case.layer.apply(params, state, xi[None])[0][0])(x)
            grads = [jax.grad(loss)(x, b) for b in ("manual", "autodiff")]
            return grads, one, case.layer.apply(params, state, x)[0]

        (manual, autodiff), per_example, batched = jax.jit(checks)(x)
        assert batched.shape == shape
        np.testing.assert_allclose(manual, autodiff, rtol=1e-10, atol=1e-12, err_msg=case.label)
        np.testing.assert_allclose(per_example, batched, atol=1e-14, err_msg=case.label)


@pytest.mark.parametrize("normalization", REFERENCES)
def test_rank_deficient_features_train_with_finite_float32_gradients(normalization):
    # 3 positions, 6 channels: the covariance has rank 2, so four eigenvalues equal eps.
    x = jax.random.normal(jax.random.key(3), (4, 3, 6))
    layer = covariance_pool(normalization)
    grad = jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(layer.apply((), (), x)[0]))))(x)
    assert grad.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(grad)))


def test_bad_input_names_the_layer():
    with pytest.raises(ValueError, match="covariance_pool: expected normalization in"):
        covariance_pool("cholesky")
    with pytest.raises(ValueError, match="covariance_pool: expected num_iterations only with"):
        covariance_pool("log", num_iterations=3)
    with pytest.raises(ValueError, match="covariance_pool: expected eps to be positive"):
        covariance_pool(eps=0.0)
    with pytest.raises(ValueError, match="expected num_iterations to be a positive integer"):
        covariance_pool("newton_schulz", num_iterations=0)
    layer = covariance_pool(num_position_axes=2)
    with pytest.raises(ValueError, match=r"covariance_pool: expected features \[\.\.\., 2 pos"):
        layer.init(jax.random.key(0), (4, 3))
    with pytest.raises(ValueError, match="covariance_pool: expected a floating-point input"):
        layer.apply((), (), jnp.ones((2, 3, 3, 2), jnp.int32))
    with pytest.raises(TypeError, match="unexpected keyword argument 'features'"):
        covariance_pool(features=3)


def test_manual_jvp_path_matches_autodiff_in_forward_and_reverse_mode():
    # covariance -> Newton–Schulz (its JVP a tangent scan, transposed by JAX) -> triangle
    assert_manual_jvp_path_matches_autodiff(covariance_pool("newton_schulz", eps=0.1), (1, 5, 3))
