"""Data parallel training over a mesh: the same numbers as one device, the batch split, the
parameters replicated, gradients all-reduced, clear errors.

The 4-device part runs tests/train/sharded_run.py in a subprocess, because the number of
simulated CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``) must be set
before JAX starts; the multi-host part runs tests/train/multiprocess_run.py in two processes
joined by ``jax.distributed.initialize``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train import data_mesh, make_train_step, replicate, shard_batch
from funcnet.train.sharding import check_batch_divisible

DEVICES = 4
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _env(devices: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    flag = f"--xla_force_host_platform_device_count={devices}"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def four_devices() -> dict:
    done = subprocess.run([sys.executable, str(HERE / "sharded_run.py")], env=_env(DEVICES),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return _last_json(done.stdout)


@pytest.fixture(scope="module")
def two_processes() -> list[dict]:
    with socket.socket() as s:  # a free port for the coordinator
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    command = [sys.executable, str(HERE / "multiprocess_run.py")]
    children = [
        subprocess.Popen(
            [*command, str(i), str(port)],
            env=_env(2),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    try:
        outputs = [child.communicate(timeout=300) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-3000:]
    return [_last_json(out) for out, _ in outputs]


def test_the_child_sees_four_devices(four_devices):
    assert four_devices["devices"] == four_devices["mesh_data"] == DEVICES


def test_sharded_steps_match_one_device_step_by_step(four_devices):
    # Summing the batch in 4 parts changes only the float32 rounding.
    assert len(four_devices["param_diff"]) == 5
    assert max(four_devices["param_diff"]) < 1e-5 * four_devices["param_scale"]
    np.testing.assert_allclose(four_devices["loss_sharded"], four_devices["loss_single"], rtol=1e-6)
    assert four_devices["warnings"] == []  # replicated inputs: every donation is usable


def test_batch_statistics_and_dropout_masks_span_the_whole_batch(four_devices):
    # batch_norm's mean and variance and dropout's mask are the global batch's on the mesh.
    assert four_devices["stochastic_diff"] < 1e-5


def test_parameters_come_back_replicated_on_every_device(four_devices):
    assert four_devices["outputs_replicated"] is True
    assert four_devices["output_device_counts"] == [DEVICES]


def test_batch_is_split_in_order_over_the_four_devices(four_devices):
    # [device id, shard shape, first example]: 8 examples, 2 per device, in order.
    assert four_devices["batch_shards"] == [[i, [2, 5], 2 * i] for i in range(DEVICES)]


def test_the_compiled_step_all_reduces_the_gradients(four_devices):
    assert four_devices["has_all_reduce"] is True


def test_eval_and_per_example_grads_shard_too(four_devices):
    assert four_devices["eval_diff"] < 1e-6
    assert four_devices["per_example_diff"] < 1e-6
    assert four_devices["per_example_spec"] == ["data"]
    assert four_devices["per_example_into_diff"] < 1e-6
    assert four_devices["per_example_into_donated"] is True


def test_fit_on_the_mesh_matches_one_device_and_resumes_mid_epoch(four_devices):
    assert four_devices["fit_param_diff"] < 1e-6  # 2 epochs of Adam, 10 steps
    assert four_devices["fit_eval_diff"] < 1e-6  # incl. a last eval batch of 2 on 4 devices
    assert four_devices["fit_params_on_devices"] == [DEVICES]
    assert four_devices["fit_params_replicated"] is True
    assert four_devices["fit_resumed_from_step"] == 3
    assert four_devices["fit_resumed_diff"] == 0.0  # bit-identical on the mesh too
    assert four_devices["fit_error"] == (
        "fit: expected a batch size divisible by the 4 devices of the mesh axis 'data', "
        "got batch size 6."
    )


def test_a_batch_the_devices_do_not_divide_is_a_clear_error(four_devices):
    expected = "expected a batch size divisible by the 4 devices of the mesh axis 'data', got "
    assert four_devices["shard_batch_error"] == f"shard_batch: {expected}batch size 6."
    assert four_devices["step_error"] == f"make_train_step: {expected}batch size 6."
    assert four_devices["mesh_error"] == (
        "make_train_step: expected a mesh with an axis named 'data', got axes ('batch',)."
    )


def test_two_processes_each_feeding_half_the_batch_train_like_one(two_processes):
    model, loss, opt = mlp((16,), 3), softmax_cross_entropy_with_integer_labels(), optax.sgd(0.5)
    _, params, state = model.init(jax.random.key(0), (8, 5))
    rng = np.random.default_rng(0)  # the children's data
    x = rng.normal(size=(8, 5)).astype(np.float32)
    t = rng.integers(0, 3, size=8).astype(np.int32)
    params, _, _, metrics = make_train_step(model, loss, opt)(
        params, state, opt.init(params), (x, t), None
    )
    for child in two_processes:
        assert (child["process_count"], child["devices"], child["global_batch"]) == (2, 4, 8)
        assert child["loss"] == pytest.approx(float(metrics["loss"]), rel=1e-6)
        assert child["error"].endswith("devices of the mesh axis 'data', got batch size 6.")
        for got, want in zip(child["params"], jax.tree.leaves(params), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_mesh_over_this_process_gives_the_plain_step_result():
    # The same code path as on N devices, here over whatever devices this process has.
    model, loss, opt = mlp((8,), 3), softmax_cross_entropy_with_integer_labels(), optax.sgd(0.1)
    _, params, state = model.init(jax.random.key(0), (8, 4))
    batch = (jax.random.normal(jax.random.key(1), (8, 4)), jnp.arange(8, dtype=jnp.int32) % 3)
    mesh = data_mesh()
    plain = make_train_step(model, loss, opt, donate=False)(
        params, state, opt.init(params), batch, None
    )
    sharded = make_train_step(model, loss, opt, mesh=mesh)(
        *replicate((params, state, opt.init(params)), mesh), shard_batch(batch, mesh), None
    )
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(sharded), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_mesh_and_batch_are_validated():
    model, loss = mlp((8,), 3), softmax_cross_entropy_with_integer_labels()
    with pytest.raises(
        ValueError, match=r"make_train_step: expected mesh to be a jax\.sharding\.Mesh"
    ):
        make_train_step(model, loss, optax.sgd(0.1), mesh="data")
    with pytest.raises(ValueError, match=r"got batch size none \(a scalar\)"):
        check_batch_divisible((jnp.ones(()),), data_mesh(), "here")
    with pytest.raises(ValueError, match="data_mesh: expected at least one device"):
        data_mesh([])
