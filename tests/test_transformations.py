"""One test per row of docs/transformations.md: each JAX transformation through the backward
paths of a tiny model, the manual and manual_jvp results equal to the autodiff one (or the
documented error)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from funcnet.core import ForwardModeError
from funcnet.layers.activations import tanh
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense

MODEL = serial(dense(3), tanh(), dense(1))
_, PARAMS, STATE = MODEL.init(jax.random.key(0), (2, 2))
X = jnp.array([[0.5, -1.0], [2.0, 0.25]])
V = jnp.array([[1.0, 0.5], [-0.5, 2.0]])  # a tangent direction for x


def loss(x, backward, params=PARAMS):
    y, _ = MODEL.apply(params, STATE, x, backward=backward)
    return jnp.sum(jnp.sin(y))  # not quadratic: second derivatives are not constant


MANUAL_PATHS = ("manual", "manual_jvp")


def _both(transform, paths=MANUAL_PATHS):
    """``transform(f)(X)``, compiled, on each of ``paths`` and on autodiff, compared; the first
    path's result."""
    autodiff = jax.jit(transform(lambda x: loss(x, "autodiff")))(X)
    results = [jax.jit(transform(lambda x, b=b: loss(x, b)))(X) for b in paths]
    for result in results:
        for a, b in zip(jax.tree.leaves(result), jax.tree.leaves(autodiff), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    return results[0]


def test_grad_vjp_value_and_grad():
    _both(jax.grad)
    _both(jax.value_and_grad)
    _both(lambda f: lambda x: jax.vjp(f, x)[1](1.0))


def test_jacrev():
    assert _both(jax.jacrev).shape == (2, 2)


def test_reverse_over_reverse():
    assert _both(lambda f: jax.jacrev(jax.jacrev(f))).shape == (2, 2, 2, 2)


def test_hessian():
    hessian = _both(jax.hessian)
    np.testing.assert_allclose(hessian, np.transpose(hessian, (2, 3, 0, 1)), atol=1e-6)


def test_hessian_vector_product_forward_over_reverse():
    _both(lambda f: lambda x: jax.jvp(jax.grad(f), (x,), (V,))[1])


@pytest.mark.parametrize(
    "transform",
    [lambda f: lambda x: jax.jvp(f, (x,), (V,)), jax.jacfwd],
    ids=["jvp", "jacfwd"],
)
def test_forward_mode_raises_on_manual_and_works_on_manual_jvp_and_autodiff(transform):
    match = r"dense: .*backward=\"manual_jvp\".* or \"autodiff\".*transformations\.md"
    with pytest.raises(ForwardModeError, match=match):
        transform(lambda x: loss(x, "manual"))(X)  # eagerly
    with pytest.raises(ForwardModeError, match=match):
        jax.jit(transform(lambda x: loss(x, "manual")))(X)  # under jit
    _both(transform, paths=("manual_jvp",))  # the hand-written JVPs equal autodiff's


def test_linearize_fails_on_manual_and_works_on_manual_jvp():
    def linear_map(backward):
        return jax.jit(lambda x: jax.linearize(lambda x: loss(x, backward), x)[1](V))

    with pytest.raises(TypeError, match="forward-mode autodiff"):  # JAX's error, not funcnet's
        linear_map("manual")(X)
    for path in ("manual_jvp", "autodiff"):
        np.testing.assert_allclose(linear_map(path)(X), jnp.vdot(_both(jax.grad), V), rtol=1e-5)


def test_jit():
    _both(jax.grad)  # _both compiles with jax.jit


def test_vmap_over_examples():
    per_example = _both(lambda f: jax.vmap(jax.grad(lambda x: f(x[None]))))
    np.testing.assert_allclose(per_example, _both(jax.grad), rtol=1e-5)


def test_vmap_over_an_ensemble():
    scales = (1.0, 0.5, -1.0)  # three members
    ensemble = jax.tree.map(lambda p: np.stack([np.asarray(p) * c for c in scales]), PARAMS)

    def transform(ensemble, backward):
        return jax.vmap(jax.grad(lambda p: loss(X, backward, p)))(ensemble)

    transform = jax.jit(transform, static_argnames="backward")
    autodiff = transform(ensemble, "autodiff")
    for path in MANUAL_PATHS:
        pairs = zip(jax.tree.leaves(transform(ensemble, path)), jax.tree.leaves(autodiff),
                    strict=True)  # fmt: skip
        for a, b in pairs:
            assert a.shape[0] == 3
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_checkpoint():
    _both(lambda f: jax.grad(jax.checkpoint(f)))


def test_scan_over_layers():
    layer = dense(2)
    rng = np.random.default_rng(0)
    stacked = type(layer.init(jax.random.key(0), (2, 2))[1])(
        rng.normal(size=(4, 2, 2)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)
    )  # four layers' params, stacked on a leading axis

    def depth_loss(params, backward):
        def body(h, p):
            return jnp.tanh(layer.apply(p, (), h, backward=backward)[0]), None

        return jnp.sum(lax.scan(body, X, params)[0])

    grad = jax.jit(jax.grad(depth_loss), static_argnames="backward")
    autodiff = grad(stacked, backward="autodiff")
    for path in MANUAL_PATHS:
        pairs = zip(jax.tree.leaves(grad(stacked, backward=path)), jax.tree.leaves(autodiff),
                    strict=True)  # fmt: skip
        for a, b in pairs:
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
