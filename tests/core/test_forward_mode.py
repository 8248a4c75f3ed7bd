"""The manual_jvp path: forward mode through hand-written JVPs, reverse mode by JAX transposing
them, on a model whose every op has a JVP (dense → gelu → dense → relu)."""

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.layers import dense, gelu, relu, serial

MODEL = serial(dense(5, dtype=jnp.float64), gelu(), dense(3, dtype=jnp.float64), relu())
X = np.random.default_rng(1).standard_normal((2, 4))  # float64


def _scalar(backward):
    with jax.enable_x64(True):
        _, params, state = MODEL.init(jax.random.key(0), X.shape)

    def f(params, x):
        return jnp.sum(jnp.sin(MODEL.apply(params, state, jnp.asarray(x), backward=backward)[0]))

    return f, params


def test_forward_and_reverse_mode_match_autodiff():
    with jax.enable_x64(True):
        f_jvp, params = _scalar("manual_jvp")
        f_ref, _ = _scalar("autodiff")
        v = jax.tree.map(jnp.ones_like, params)
        for transform in (
            lambda f: jax.jvp(lambda p: f(p, X), (params,), (v,))[1],
            lambda f: jax.jacfwd(f, argnums=1)(params, X),
            lambda f: jax.grad(f)(params, X),
            lambda f: jax.hessian(f, argnums=1)(params, X),
            lambda f: jax.linearize(lambda x: f(params, x), X)[1](X),
        ):
            for a, b in zip(jax.tree.leaves(transform(f_jvp)), jax.tree.leaves(transform(f_ref)),
                            strict=True):  # fmt: skip
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_jit_compiles_the_hand_written_jvp():
    with jax.enable_x64(True):
        f, params = _scalar("manual_jvp")
        v = jax.tree.map(jnp.ones_like, params)
        eager = jax.jvp(lambda p: f(p, X), (params,), (v,))
        jitted = jax.jit(lambda p, v: jax.jvp(lambda p: f(p, X), (p,), (v,)))(params, v)
        np.testing.assert_allclose(eager, jitted, rtol=1e-12)
