"""Child program of tests/train/test_sharding.py: data parallel over 4 simulated CPU devices.

The device count is fixed when JAX starts, so the test runs this file in a fresh interpreter
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``. It trains the same model with one
device and with a 4-device mesh, step by step, inspects the shardings and the compiled program,
provokes the batch-size errors, and prints what it saw as one JSON object.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

STEPS, BATCH = 5, 8


def _max_abs_diff(a, b) -> float:
    import jax
    import numpy as np

    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in pairs)


def _error(fn) -> str:
    try:
        fn()
    except ValueError as e:
        return str(e)
    return ""


def _batch_statistics_and_dropout(mesh, xs, ts) -> float:
    """Largest difference of params and running statistics between one device and the mesh,
    for a model whose batch statistics and dropout masks span the whole (split) batch."""
    import jax
    import jax.numpy as jnp
    import optax

    from funcnet.layers import batch_norm, dense, dropout, relu, serial
    from funcnet.losses import softmax_cross_entropy_with_integer_labels
    from funcnet.train import make_train_step, replicate, shard_batch

    model = serial(dense(16), batch_norm(), relu(), dropout(0.5), dense(3))
    loss, opt = softmax_cross_entropy_with_integer_labels(), optax.sgd(0.1)
    _, params, state = model.init(jax.random.key(3), (BATCH, 5))
    single, sharded = (
        make_train_step(model, loss, opt),
        make_train_step(model, loss, opt, mesh=mesh),
    )
    one = jax.tree.map(jnp.copy, (params, state, opt.init(params)))
    four = replicate((params, state, opt.init(params)), mesh)
    for i in range(3):
        key = jax.random.key(10 + i)
        *one, _ = single(*one, (xs[i], ts[i]), key)
        *four, _ = sharded(*four, shard_batch((xs[i], ts[i]), mesh), key)
    return _max_abs_diff(one[:2], four[:2])


def _fit_on_the_mesh(mesh, directory: str) -> dict:
    """fit with and without the mesh (and resumed mid-epoch on it): the differences, the
    placement of the result, and the error for a batch the devices do not divide."""
    import shutil

    import jax
    import numpy as np
    import optax

    from funcnet.data.dataset import make_dataset
    from funcnet.losses import softmax_cross_entropy_with_integer_labels
    from funcnet.models import mlp
    from funcnet.train import checkpoint, fit

    rng = np.random.default_rng(1)
    train = make_dataset(rng.normal(size=(40, 5)).astype(np.float32),
                         rng.integers(0, 3, 40).astype(np.int32))  # fmt: skip
    held_out = make_dataset(
        rng.normal(size=(42, 5)).astype(np.float32), rng.integers(0, 3, 42).astype(np.int32)
    )  # 42 = 5 × 8 + 2 left over
    model, loss, opt = mlp((16,), 3), softmax_cross_entropy_with_integer_labels(), optax.adam(1e-2)
    _, params, state = model.init(jax.random.key(0), (BATCH, 5))

    def go(batch_size=BATCH, **kw):
        return fit(model, loss, opt, params, state, train, key=jax.random.key(1), epochs=2,
                   batch_size=batch_size, eval_data=held_out, progress=False, **kw)  # fmt: skip

    one, four = go(), go(mesh=mesh)
    go(
        mesh=mesh,
        checkpoint_dir=f"{directory}/whole",
        checkpoint_every_steps=3,
        keep_checkpoints=None,
    )
    first = checkpoint.checkpoints(f"{directory}/whole")[0][1]  # step 3 of 5 in epoch 1
    (Path(directory) / "parts").mkdir()
    shutil.copy(first, Path(directory) / "parts")  # as if the run had died after this save
    resumed = go(mesh=mesh, checkpoint_dir=f"{directory}/parts", resume=True)
    eval_diffs = [abs(a[k] - b[k]) for a, b in zip(one.history, four.history, strict=True)
                  for k in a if k.startswith("eval_")]  # fmt: skip
    leaves = jax.tree.leaves(four.params)
    return {
        "fit_param_diff": _max_abs_diff(one.params, four.params),
        "fit_eval_diff": max(eval_diffs),
        "fit_params_on_devices": sorted({len(leaf.sharding.device_set) for leaf in leaves}),
        "fit_params_replicated": all(leaf.sharding.is_fully_replicated for leaf in leaves),
        "fit_resumed_from_step": resumed.resumed_from_step,
        "fit_resumed_diff": _max_abs_diff(four.params, resumed.params),
        "fit_error": _error(lambda: go(mesh=mesh, batch_size=6)),
    }


def main() -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from funcnet.losses import softmax_cross_entropy_with_integer_labels
    from funcnet.models import mlp
    from funcnet.train import (
        data_mesh,
        make_eval_step,
        make_train_step,
        per_example_grads,
        replicate,
        shard_batch,
    )

    model, loss, opt = mlp((16,), 3), softmax_cross_entropy_with_integer_labels(), optax.adam(1e-2)
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(STEPS, BATCH, 5)).astype(np.float32)
    ts = rng.integers(0, 3, size=(STEPS, BATCH)).astype(np.int32)
    _, params, state = model.init(jax.random.key(0), (BATCH, 5))
    mesh = data_mesh()
    out: dict = {"devices": len(jax.devices()), "mesh_data": int(mesh.shape["data"])}

    single = make_train_step(model, loss, opt)
    sharded = make_train_step(model, loss, opt, mesh=mesh)
    one = jax.tree.map(jnp.copy, (params, state, opt.init(params)))
    four = replicate((params, state, opt.init(params)), mesh)
    out["param_diff"], out["loss_single"], out["loss_sharded"] = [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(STEPS):
            *one, m1 = single(*one, (xs[i], ts[i]), None)
            *four, m4 = sharded(*four, shard_batch((xs[i], ts[i]), mesh), None)
            out["param_diff"].append(_max_abs_diff(one[0], four[0]))
            out["loss_single"].append(float(m1["loss"]))
            out["loss_sharded"].append(float(m4["loss"]))
    out["warnings"] = [str(w.message) for w in caught]
    out["param_scale"] = max(float(jnp.max(jnp.abs(leaf))) for leaf in jax.tree.leaves(one[0]))
    out["stochastic_diff"] = _batch_statistics_and_dropout(mesh, xs, ts)

    leaves = jax.tree.leaves(four)
    out["outputs_replicated"] = all(leaf.sharding.is_fully_replicated for leaf in leaves)
    out["output_device_counts"] = sorted({len(leaf.sharding.device_set) for leaf in leaves})
    x_sharded = shard_batch(xs[0], mesh)
    out["batch_shards"] = sorted(
        [shard.device.id, list(shard.data.shape), shard.index[0].start]
        for shard in x_sharded.addressable_shards
    )
    hlo = sharded.lower(*four, (x_sharded, ts[0]), None).compile().as_text()
    out["has_all_reduce"] = "all-reduce" in hlo

    evaluate, evaluate_sharded = make_eval_step(model, loss), make_eval_step(model, loss, mesh=mesh)
    e1, e4 = evaluate(one[0], one[1], (xs[0], ts[0])), evaluate_sharded(*four[:2], (xs[0], ts[0]))
    out["eval_diff"] = _max_abs_diff(e1, e4)
    g1 = per_example_grads(model, loss)(one[0], one[1], (xs[0], ts[0]), None)
    sharded_grads = per_example_grads(model, loss, mesh=mesh)
    g4 = sharded_grads(*four[:2], (xs[0], ts[0]), None)
    out["per_example_diff"] = _max_abs_diff(g1, g4)
    out["per_example_spec"] = list(jax.tree.leaves(g4)[0].sharding.spec)
    # Written into g4's buffers: the same numbers, g4 consumed.
    into = sharded_grads(*four[:2], (xs[0], ts[0]), None, g4)
    out["per_example_into_diff"] = _max_abs_diff(g1, into)
    out["per_example_into_donated"] = all(leaf.is_deleted() for leaf in jax.tree.leaves(g4))

    odd = (xs[0][:6], ts[0][:6])
    out["shard_batch_error"] = _error(lambda: shard_batch(odd, mesh))
    out["step_error"] = _error(lambda: sharded(*four, odd, None))
    out["mesh_error"] = _error(
        lambda: make_train_step(model, loss, opt, mesh=jax.make_mesh((4,), ("batch",)))
    )
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        out.update(_fit_on_the_mesh(mesh, directory))
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
