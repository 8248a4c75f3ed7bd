"""Update-unlocked training: module by module it equals the one-grad step; staleness delays;
four devices compute what one does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from funcnet.dni import (
    decoupled_mlp,
    decoupled_objective,
    init_unlocked,
    make_module_steps,
    train_unlocked,
)
from tests.dni.test_model import LABELS, PARAMS, X


def test_one_unlocked_step_equals_one_step_on_the_objective():
    model, params = decoupled_mlp((5, 5), 3), PARAMS
    optimizer = optax.adam(1e-2)  # per leaf: one state per module is the same as one for all

    @jax.jit
    def one_step(params):
        grads = jax.grad(lambda p: decoupled_objective(model, p, X, LABELS)[0])(params)
        updates, _ = optimizer.update(grads, optimizer.init(params), params)
        return optax.apply_updates(params, updates)

    expected = one_step(params)
    states, history = train_unlocked(
        model, init_unlocked(model, params, optimizer), optimizer, [(X, LABELS)]
    )
    for k, state in enumerate(states):
        want = (expected.modules[k], expected.predictors[k] if k < 2 else None)
        got = (state.params, state.predictor_params)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert len(history) == 1 and set(history[0]) == {"loss", "accuracy"}


def test_staleness_delays_each_module_by_d_steps():
    model, params = decoupled_mlp((5, 5), 3), PARAMS
    optimizer = optax.sgd(0.1)
    steps = make_module_steps(model, optimizer)
    batches = [(X + i, LABELS) for i in range(5)]
    states, history = train_unlocked(
        model, init_unlocked(model, params, optimizer), optimizer, batches, staleness=2,
        steps=steps,
    )  # fmt: skip
    assert len(history) == 5 - 2 * 2  # the last module first sees data at step 2·d
    head = states[2].params.w - params.modules[2].w
    fresh = init_unlocked(model, params, optimizer)
    one = train_unlocked(model, fresh, optimizer, [(X, LABELS)], steps=steps)[0][2].params.w
    one = one - params.modules[2].w
    np.testing.assert_allclose(head, one, rtol=1e-5)  # it saw the batch of step 0, once


def test_unlocked_training_refuses_a_true_gradient():
    model = decoupled_mlp((5,), 3, bp_lambda=0.5)
    with pytest.raises(ValueError, match="unlocked training: expected a model with bp_lambda=0"):
        init_unlocked(model, None, optax.sgd(0.1))
    with pytest.raises(ValueError, match="train_unlocked: expected staleness"):
        train_unlocked(decoupled_mlp((5,), 3), [], optax.sgd(0.1), [], staleness=-1)


def test_four_devices_compute_what_one_device_does():
    # the device count is fixed when JAX starts: a fresh interpreter runs unlocked_devices_run.py
    root = Path(__file__).resolve().parents[2]
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags, PYTHONPATH=path)
    child = root / "tests" / "dni" / "unlocked_devices_run.py"
    done = subprocess.run([sys.executable, str(child)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["num_devices"] == 4
    assert seen["placement"] == [[f"cpu:{k}"] for k in range(4)]  # module k on device k
    one, four = seen["losses"]
    assert len(one) == 2  # staleness 1: the 4th module gets batches 0, 1 at steps 3, 4
    assert seen["least_moved"] > 1e-3  # every module trained
    assert seen["max_diff"] == 0.0 and one == four
