"""Child program of tests/train/test_sharding.py: one of two processes sharing one mesh.

Run as ``python multiprocess_run.py PROCESS_ID PORT`` with 2 simulated CPU devices each; the two
processes join through ``jax.distributed.initialize`` (CPU collectives over gloo), build one
4-device mesh, each feeds its own half of the batch to ``shard_batch``, and both take one
data-parallel training step. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys

PROCESSES, BATCH = 2, 8


def main(process_id: int, port: int) -> dict:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", PROCESSES, process_id)

    import numpy as np
    import optax

    from funcnet.losses import softmax_cross_entropy_with_integer_labels
    from funcnet.models import mlp
    from funcnet.train import data_mesh, make_train_step, replicate, shard_batch

    model, loss, opt = mlp((16,), 3), softmax_cross_entropy_with_integer_labels(), optax.sgd(0.5)
    _, params, state = model.init(jax.random.key(0), (BATCH, 5))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 5)).astype(np.float32)
    t = rng.integers(0, 3, size=BATCH).astype(np.int32)
    half = slice(process_id * BATCH // 2, (process_id + 1) * BATCH // 2)

    mesh = data_mesh()
    step = make_train_step(model, loss, opt, mesh=mesh)
    batch = shard_batch((x[half], t[half]), mesh)
    params, state, _, metrics = step(*replicate((params, state, opt.init(params)), mesh), batch,
                                     None)  # fmt: skip
    try:
        shard_batch((x[:3], t[:3]), mesh)  # 3 per process: a global batch of 6 on 4 devices
        error = ""
    except ValueError as e:
        error = str(e)
    return {
        "error": error,
        "process_count": jax.process_count(),
        "devices": len(jax.devices()),
        "global_batch": int(batch[0].shape[0]),
        "loss": float(metrics["loss"]),
        "params": [
            np.asarray(leaf.addressable_data(0)).tolist() for leaf in jax.tree.leaves(params)
        ],
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
