"""Small problems the optimizer tests share: a convex quadratic, Rosenbrock, a tanh MLP on XOR."""

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.data import xor
from funcnet.layers.activations import tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp


def quadratic(n: int, condition: float = 50.0):
    """``f(w) = ½ wᵀAw - bᵀw`` with A symmetric positive definite (eigenvalues 1..condition),
    in float64, and its minimiser ``A⁻¹b``."""
    rng = np.random.default_rng(n)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray(q @ np.diag(np.linspace(1.0, condition, n)) @ q.T)
    b = jnp.asarray(rng.normal(size=n))
    return (lambda w: 0.5 * w @ a @ w - b @ w), jnp.linalg.solve(a, b)


def rosenbrock(w):
    return 100.0 * (w[1] - w[0] ** 2) ** 2 + (1.0 - w[0]) ** 2


def run(opt, f, w, iterations: int, **names):
    """``iterations`` updates of ``opt`` on ``f`` from ``w``, the update compiled once; the
    params and state after each one. ``names`` picks which of value_fn/value_and_grad_fn to pass."""
    value_and_grad = jax.value_and_grad(f)
    given = {"value_fn": f, "value_and_grad_fn": value_and_grad}

    @jax.jit
    def step(w, state):
        value, grad = value_and_grad(w)
        extra = {k: given[k] for k in names}
        updates, state = opt.update(grad, state, w, value=value, grad=grad, **extra)
        return w + updates, state

    state, trail = opt.init(w), []
    for _ in range(iterations):
        w, state = step(w, state)
        trail.append((w, state))
    return trail


def xor_mlp():
    """A 2-4-2 tanh MLP on XOR, float32: model, loss, params, state, the full batch."""
    data = xor()
    model = mlp((4,), 2, activation=tanh)
    _, params, state = model.init(jax.random.key(0), data.x.shape)
    loss = softmax_cross_entropy_with_integer_labels()
    return model, loss, params, state, (jnp.asarray(data.x), jnp.asarray(data.y))
