"""Benchmark: per-example gradients of the MLP 784-512-512-10 at batch 128 (synthetic data).

funcnet's :func:`~funcnet.train.per_example_grads` (``jax.vmap`` of the hand-written backward)
is compared with ``jax.vmap(jax.grad(loss))`` of the same model's autodiff path. The result,
one gradient per example, is 128 × 663,050 floats (343 MB) either way. Under ``vmap`` the
manual dense backward's ``dW = Xᵀ dY`` is one outer product ``x dyᵀ`` per example, which XLA
writes straight into the ``[B, n_in, n_out]`` output; autodiff's transpose of the ``dot``
produces ``[B, n_out, n_in]`` and copies it into place (a 206 MB temporary for the first layer).

On Linux, writing a fresh 343 MB output costs one page fault per 4 KiB page unless malloc asks
for transparent huge pages (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` on glibc ≥ 2.35, set
before Python starts); the faults take time from both sides and shrink the ratio. The rows
report the page size in use (``hugetlb``). The second row passes each call the previous
result as ``out`` (donated, so written in place) on both sides: the output then costs no page
faults, and what remains is the work, including autodiff's fresh 206 MB temporary.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import function_runner, into_runner, time_interleaved
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train.per_example import jit_into_output, per_example_grads

BATCH, INPUTS, HIDDEN, CLASSES = 128, 784, (512, 512), 10


def autodiff_per_example_grads(model, loss):
    """The usual JAX way: ``vmap`` over examples of ``grad`` of the autodiff path."""

    def one(params, state, x, t):
        def value(p):
            y, _ = model.apply(p, state, x[None], train=True, backward="autodiff")
            return loss(y, t[None], backward="autodiff")

        return jax.grad(value)(params)

    def grads(params, state, batch, key):
        del key
        return jax.vmap(one, in_axes=(None, None, 0, 0))(params, state, *batch)

    return jit_into_output(grads, None, "autodiff_per_example_grads")


@benchmark("per_example")
def per_example_benchmark(config: BenchConfig) -> list[Row]:
    kx, ky = jax.random.split(jax.random.key(1))
    batch = (
        jax.random.normal(kx, (BATCH, INPUTS), jnp.float32),
        jax.random.randint(ky, (BATCH,), 0, CLASSES, dtype=jnp.int32),
    )
    model, loss = mlp(HIDDEN, CLASSES), softmax_cross_entropy_with_integer_labels()
    _, params, state = model.init(jax.random.key(0), batch[0].shape)
    args = (params, state, batch, None)
    fns = {
        "manual": per_example_grads(model, loss, backward="manual"),
        "autodiff": autodiff_per_example_grads(model, loss),
    }
    fresh = {side: function_runner(fn, args, config.warmup) for side, fn in fns.items()}
    into = {side: into_runner(fn, args, config.warmup) for side, fn in fns.items()}
    runners = [pair[1] for pair in (*fresh.values(), *into.values())]
    # Each step writes 343 MB: a few steps per round are enough to average over.
    ms = time_interleaved(runners, rounds=config.rounds, steps=max(1, config.steps // 5))
    common = {
        "baseline": "jax.vmap(jax.grad(loss)) of the autodiff path",
        "output_bytes": fresh["manual"][0].fn.memory_analysis().output_size_in_bytes,
        "hugetlb": "glibc.malloc.hugetlb=1" in os.environ.get("GLIBC_TUNABLES", ""),
    }
    name = "per_example_mlp_784-512-512-10_b128"
    fresh_row = comparison_row(name, fresh["manual"][0], fresh["autodiff"][0], ms[:2], **common)
    into_row = comparison_row(name + "_into_out", into["manual"][0], into["autodiff"][0], ms[2:],
                              **common)  # fmt: skip
    return [fresh_row, into_row]
