"""XOR and AND learned by a 2-8-2 tanh network with hand-written gradients.

Run: python experiments/xor_and.py
Prints, per problem, the manual-vs-autodiff gradient check at initialisation, the loss before
and after training, and the network's prediction for every row of the truth table.
"""

import jax
import jax.numpy as jnp
import optax

import funcnet as fn


def learn(name: str, data: fn.data.Dataset, seed: int = 0) -> float:
    model = fn.mlp((8,), 2, activation=fn.tanh)
    loss = fn.softmax_cross_entropy_with_integer_labels()
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(init_key, data.x.shape)
    check = fn.verify_model(model, params, state, (data.x, data.y), loss).raise_if_failed()
    result = fn.fit(model, loss, optax.adam(0.05), params, state, data, key=fit_key,
                    epochs=300, batch_size=4, eval_data=data, progress=False)  # fmt: skip
    logits, _ = model.apply(result.params, result.state, jnp.asarray(data.x))
    probs = jax.nn.softmax(logits)
    first, last = result.history[0]["train_loss"], result.history[-1]["train_loss"]
    err = check.cases[0].max_rel_err("autodiff")
    print(f"{name}: grad check max rel err {err:.1e}; loss {first:.4f} -> {last:.4f}")
    for x, t, p in zip(data.x, data.y, probs, strict=True):
        print(f"  {x.astype(int).tolist()} -> P(1) = {float(p[1]):.4f} (target {int(t)})")
    return result.history[-1]["eval_accuracy"]


if __name__ == "__main__":
    accuracies = {"XOR": learn("XOR", fn.data.xor()), "AND": learn("AND", fn.data.and_())}
    print({k: f"{v:.0%}" for k, v in accuracies.items()})
