"""Small problems the optimizer tests share: a convex quadratic, Rosenbrock, a tanh MLP on XOR,
and a runner that compiles several optimizers' iterations into one function (XLA's compile time,
not the arithmetic, is what these tests cost)."""

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.data import xor
from funcnet.layers.activations import tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp


def quadratic(n: int, condition: float = 50.0):
    """``f(w) = ½ wᵀAw - bᵀw`` with A symmetric positive definite (eigenvalues 1..condition),
    and its minimiser ``A⁻¹b``; float64 when x64 is on."""
    rng = np.random.default_rng(n)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray(q @ np.diag(np.linspace(1.0, condition, n)) @ q.T)
    b = jnp.asarray(rng.normal(size=n))
    return (lambda w: 0.5 * w @ a @ w - b @ w), jnp.linalg.solve(a, b)


def rosenbrock(w):
    return 100.0 * (w[1] - w[0] ** 2) ** 2 + (1.0 - w[0]) ** 2


def run(optimizers: dict, f, w, iterations: int):
    """``iterations`` updates of each optimizer on ``f`` from ``w``, all in one compiled
    function; per optimizer the params, the loss and the optimizer state after each update
    (stacked along a leading axis). Each update gets value, grad, value_fn and, where it names
    it, value_and_grad_fn, as ``make_train_step`` passes them."""
    value_and_grad = jax.value_and_grad(f)

    def iterate(opt):
        wants_h = "value_and_grad_fn" in opt.update.__code__.co_varnames

        def body(carry, _):
            w, state = carry
            value, grad = value_and_grad(w)
            extra = {"value_and_grad_fn": value_and_grad} if wants_h else {}
            updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f,
                                        **extra)  # fmt: skip
            w = jax.tree.map(jnp.add, w, updates)
            return (w, state), (w, f(w), state)

        return jax.lax.scan(body, (w, opt.init(w)), length=iterations)[1]

    return jax.jit(lambda: {name: iterate(opt) for name, opt in optimizers.items()})()


def xor_mlp():
    """A 2-4-2 tanh MLP on XOR, float32: model, loss, params, state, the full batch."""
    data = xor()
    model = mlp((4,), 2, activation=tanh)
    _, params, state = model.init(jax.random.key(0), data.x.shape)
    loss = softmax_cross_entropy_with_integer_labels()
    return model, loss, params, state, (jnp.asarray(data.x), jnp.asarray(data.y))


def xor_loss():
    """The XOR MLP's training loss as a function of its parameter pytree, and the params."""
    model, loss, params, state, (x, y) = xor_mlp()
    return (lambda p: loss(model.apply(p, state, x)[0], y)), params
