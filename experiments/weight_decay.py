"""Weight decay two ways: optax.add_decayed_weights vs the L2 penalty op in the loss.

Run: python experiments/weight_decay.py [--steps 200]

For plain SGD the two are the same update: ``∇(L + λ·½‖w‖²) = ∇L + λw``, which is what
``optax.chain(optax.add_decayed_weights(λ), optax.sgd(lr))`` adds to the gradient. The script
prints the largest parameter difference between the two after one step and along a whole
trajectory (iris, a 4-16-3 tanh MLP, full batch), with the penalty differentiated by its
hand-written backward and by autodiff, and with decay restricted to the weight matrices
(optax ``mask=`` vs the penalty on those leaves only). For contrast it prints the same
comparison for Adam, where decoupled decay (AdamW) and an L2 penalty are *different* methods.
"""

import argparse

import jax
import jax.numpy as jnp
import optax

import funcnet as fn

DECAY, LR = 1e-2, 0.1


def is_weight_matrix(params):
    """True at each dense layer's ``w``, False elsewhere (biases): an optax decay mask."""
    return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].name == "w", params)


def weight_matrices(params):
    mask = jax.tree.leaves(is_weight_matrix(params))
    return [leaf for leaf, m in zip(jax.tree.leaves(params), mask, strict=True) if m]


def run(model, state, batch, params, steps, optimizer, penalty, backward):
    """``steps`` full-batch updates; ``penalty(params)`` is added to the loss (or is None)."""
    ce = fn.softmax_cross_entropy_with_integer_labels()

    def loss(p):
        x, t = batch
        value = ce(model.apply(p, state, x, backward=backward)[0], t, backward=backward)
        return value if penalty is None else value + penalty(p, backward)

    @jax.jit
    def step(p, opt_state):
        updates, opt_state = optimizer.update(jax.grad(loss)(p), opt_state, p)
        return optax.apply_updates(p, updates), opt_state

    opt_state = optimizer.init(params)
    for _ in range(steps):
        params, opt_state = step(params, opt_state)
    return params


def max_diff(a, b) -> float:
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in pairs)


def main(steps: int) -> None:
    train, _ = fn.data.iris()
    model = fn.mlp((16,), 3, activation=fn.tanh)
    _, params, state = model.init(jax.random.key(0), train.x.shape)
    batch = (jnp.asarray(train.x), jnp.asarray(train.y))

    def everything(p, backward):
        return fn.l2_penalty_tree(p, DECAY, backward=backward)

    def weights_only(p, backward):
        return fn.l2_penalty_tree(weight_matrices(p), DECAY, backward=backward)

    decayed = optax.chain(optax.add_decayed_weights(DECAY), optax.sgd(LR))
    masked = optax.chain(optax.add_decayed_weights(DECAY, mask=is_weight_matrix), optax.sgd(LR))
    plain = optax.sgd(LR)
    print(f"iris, 4-16-3 tanh MLP, SGD lr {LR}, decay {DECAY}; max |param difference|:")
    for n in (1, steps):
        with_optax = run(model, state, batch, params, n, decayed, None, "manual")
        no_decay = run(model, state, batch, params, n, plain, None, "manual")
        moved = max_diff(with_optax, no_decay)
        print(f"  after {n} step(s): decay moved the parameters by {moved:.2e}")
        for backward in ("manual", "autodiff"):
            with_penalty = run(model, state, batch, params, n, plain, everything, backward)
            diff = max_diff(with_optax, with_penalty)
            print(f"    add_decayed_weights vs l2_penalty_tree ({backward} backward): {diff:.2e}")
        a = run(model, state, batch, params, n, masked, None, "manual")
        b = run(model, state, batch, params, n, plain, weights_only, "manual")
        print(f"    weights only (optax mask vs penalty on the w leaves): {max_diff(a, b):.2e}")

    adamw = optax.adamw(1e-2, weight_decay=DECAY)
    decoupled = run(model, state, batch, params, steps, adamw, None, "manual")
    coupled = run(model, state, batch, params, steps, optax.adam(1e-2), everything, "manual")
    print(
        f"Adam, {steps} steps: AdamW vs Adam + L2 penalty differ by "
        f"{max_diff(decoupled, coupled):.2e} (expected: under Adam's per-parameter scaling, "
        "decoupled decay is not an L2 penalty)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    main(parser.parse_args().steps)
