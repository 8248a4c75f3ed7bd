"""The verifier's reference path against the XLA CPU miscompile it is compiled to avoid.

The reproducer: ``jax.grad`` of a float64 GRU scan whose recurrent matrix is a traced argument.
On x86 CPUs with AVX-512, jaxlib 0.10.2's default compilation gets the input-weight gradient
wrong (funcnet/verify/oracle.py); elsewhere it is right. Either way the oracle must agree with
op-by-op execution.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from funcnet.models import gru_classifier
from funcnet.verify.oracle import reference_jit

B, T, H = 4, 6, 5


def _gru_scan_loss(w, b, u, v, x):
    def body(h, x_t):
        zx, zh = x_t @ w + b[None], h @ u
        (xr, xu, xn), (hr, hu, hn) = jnp.split(zx, 3, -1), jnp.split(zh, 3, -1)
        r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xu + hu)
        n = jnp.tanh(xn + r * hn)
        return n + z * (h - n), None

    h_last, _ = lax.scan(body, jnp.zeros((B, H), w.dtype), jnp.moveaxis(x, 1, 0))
    return jnp.sum(h_last * v)


def test_the_reference_compilation_matches_op_by_op_execution_of_the_reproducer():
    with jax.enable_x64(True):
        k = jax.random.split(jax.random.key(0), 5)
        w = 0.5 * jax.random.normal(k[0], (1, 3 * H), jnp.float64)
        b = 0.1 * jax.random.normal(k[1], (3 * H,), jnp.float64)
        u = 0.5 * jax.random.normal(k[2], (H, 3 * H), jnp.float64)
        v = jax.random.normal(k[3], (B, H), jnp.float64)
        x = jax.random.normal(k[4], (B, T, 1), jnp.float64)
        grad = jax.grad(_gru_scan_loss, argnums=(0, 1))
        with jax.disable_jit():
            eager = grad(w, b, u, v, x)
        oracle = reference_jit(grad)(w, b, u, v, x)
        for got, want in zip(oracle, eager, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        assert float(jnp.max(jnp.abs(eager[0]))) > 0.05  # a gradient, not zeros


def test_the_gru_classifier_reference_gradient_matches_op_by_op_execution():
    # The case that showed the miscompile in verify_model: its oracle, not its manual backward,
    # was wrong by 0.1 on AVX-512 machines.
    from funcnet.losses import softmax_cross_entropy_with_integer_labels
    from funcnet.verify.model_check import model_loss

    model = gru_classifier(5, 3)
    _, params, state = model.init(jax.random.key(0), (4, 6, 1))
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        x = jax.random.normal(jax.random.key(1), (4, 6, 1), jnp.float64)
        t = jnp.array([0, 1, 2, 1], jnp.int32)
        fn = model_loss(model, softmax_cross_entropy_with_integer_labels())
        grad = jax.grad(lambda p: fn(p, state, x, t, "autodiff"))
        with jax.disable_jit():
            eager = grad(params)
        oracle = reference_jit(grad)(params)
        for got, want in zip(jax.tree.leaves(oracle), jax.tree.leaves(eager), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
