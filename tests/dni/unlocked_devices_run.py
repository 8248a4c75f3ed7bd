"""Child program of tests/dni/test_unlocked.py: update-unlocked training on 4 host devices.

The device count is fixed when JAX starts, so the test runs this file in a fresh interpreter
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``. It trains a tiny decoupled MLP
(four modules) for five steps with staleness 1, once with every module on one device and once
with module k on device k, and prints one JSON object: the devices seen, where each module's
parameters live, how far the least-moved module moved, and the largest difference between
the two runs.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import optax

from funcnet.dni import (
    decoupled_mlp,
    init_decoupled,
    init_unlocked,
    make_module_steps,
    train_unlocked,
)


def max_abs_diff(a, b) -> float:
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in pairs)


def main() -> None:
    model, optimizer = decoupled_mlp((5, 5, 5), 3), optax.adam(1e-2)
    # one compiled init (eagerly, every small op compiles on its own); predictors not 0, so
    # every module moves within the five steps
    init = jax.jit(lambda key: jax.tree.map(lambda a: a + 0.1, init_decoupled(model, key, (6, 4))))
    params = init(jax.random.key(0))
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(6, 4)).astype(np.float32), np.arange(6) % 3) for _ in range(5)]
    devices, steps = jax.devices(), make_module_steps(model, optimizer)

    def run(placed):
        states = init_unlocked(model, params, optimizer, devices=placed)
        return train_unlocked(model, states, optimizer, data, staleness=1, devices=placed,
                              steps=steps)  # fmt: skip

    one, history_one = run([devices[0]] * 4)
    four, history_four = run(devices[:4])
    diff = max_abs_diff(one, four)
    moved = min(max_abs_diff(s.params, p) for s, p in zip(one, params.modules, strict=True))
    placement = [sorted(str(d) for d in jax.tree.leaves(s.params)[0].devices()) for s in four]
    losses = [[row["loss"] for row in h] for h in (history_one, history_four)]
    print(json.dumps({"num_devices": len(devices), "placement": placement, "max_diff": diff,
                      "least_moved": moved, "losses": losses}))  # fmt: skip


if __name__ == "__main__":
    main()
