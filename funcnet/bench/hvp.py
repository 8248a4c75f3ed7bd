"""Benchmark: one Hessian–vector product of a training loss, four ways, on the digits MLP and CNN.

* ``fwd_rev_jvp``: forward-over-reverse on ``backward="manual_jvp"`` — the gradient is JAX's
  transpose of the hand-written JVPs, the outer JVP differentiates it
  (:func:`funcnet.curvature.hessian_vector_product`);
* ``fwd_rev_manual``: forward-over-reverse on ``backward="manual"`` — the outer JVP
  differentiates the hand-written backward's code;
* ``rev_rev_manual``: reverse-over-reverse on ``"manual"``, ``∇⟨∇f, v⟩`` (the hand-written
  backward differentiated by reverse mode);
* ``autodiff``: forward-over-reverse of JAX's own derivatives of the reference forwards.

Rows: ``model``, per way ``<way>_ms`` (median over interleaved rounds, float32),
``<way>_temp_bytes`` (XLA's compiled temporary memory), ``<way>_compile_s``,
``<way>_speedup`` (autodiff_ms / <way>_ms: above 1, faster than autodiff) and
``<way>_max_rel_err`` (the product in float64 against autodiff's, relative to its largest
entry: the agreement the issue asks to be ≤ 1e-10). Models: the MLP 64-128-10 at batch 128
and the CNN (8×8×1, conv 32 and 64, dense 128) at batch 64, softmax cross-entropy, on
synthetic data.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax.tree_utils as otu

from funcnet.bench.registry import BenchConfig, Row, benchmark
from funcnet.bench.timing import function_runner, time_interleaved
from funcnet.core.layer import Layer
from funcnet.curvature import hessian_vector_product
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import cnn, mlp

WAYS = ("fwd_rev_jvp", "fwd_rev_manual", "rev_rev_manual", "autodiff")


def _models(dtype) -> list[tuple[str, Layer, jax.Array, jax.Array]]:
    kx, kt = jax.random.split(jax.random.key(1))
    return [
        ("digits_mlp_64-128-10_b128", mlp((128,), 10, dtype=dtype),
         jax.random.normal(kx, (128, 64), dtype), jax.random.randint(kt, (128,), 0, 10)),
        ("digits_cnn_b64", cnn(2, 10, channels=(32, 64), hidden_features=128, dtype=dtype),
         jax.random.normal(kx, (64, 8, 8, 1), dtype), jax.random.randint(kt, (64,), 0, 10)),
    ]  # fmt: skip


def hvp_functions(model: Layer, x: jax.Array, t: jax.Array) -> dict[str, Callable]:
    """``(params, v) -> H v`` per way, for the mean softmax cross-entropy of ``model`` on
    ``(x, t)`` (state from ``init``, inference mode)."""
    loss = softmax_cross_entropy_with_integer_labels()
    _, _, state = model.init(jax.random.key(0), x.shape)

    def objective(backward: str) -> Callable:
        return lambda p: loss(model.apply(p, state, x, backward=backward)[0], t, backward=backward)

    def reverse_over_reverse(params, v):
        return jax.grad(lambda p: otu.tree_vdot(jax.grad(objective("manual"))(p), v))(params)

    return {
        "fwd_rev_jvp": lambda p, v: hessian_vector_product(objective("manual_jvp"), p, v),
        "fwd_rev_manual": lambda p, v: hessian_vector_product(objective("manual"), p, v),
        "rev_rev_manual": reverse_over_reverse,
        "autodiff": lambda p, v: hessian_vector_product(objective("autodiff"), p, v),
    }


def _agreement(model: Layer, x: jax.Array, t: jax.Array) -> dict[str, float]:
    """Per way, max |H v − H v_autodiff| / max |H v_autodiff| in float64."""
    with jax.enable_x64(True):
        x = x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x
        _, params, _ = model.init(jax.random.key(0), x.shape)
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        v = otu.tree_random_like(jax.random.key(5), params)
        products = {way: jax.jit(fn)(params, v) for way, fn in hvp_functions(model, x, t).items()}
        reference = products["autodiff"]
        scale = max(float(jnp.max(jnp.abs(r))) for r in jax.tree.leaves(reference))
        return {
            way: max(float(jnp.max(jnp.abs(a - b))) for a, b in
                     zip(jax.tree.leaves(hv), jax.tree.leaves(reference), strict=True)) / scale
            for way, hv in products.items()
        }  # fmt: skip


@benchmark("hvp")
def hvp_benchmark(config: BenchConfig) -> list[Row]:
    return hvp_rows(_models(jnp.float32), config)


def hvp_rows(models: list[tuple], config: BenchConfig) -> list[Row]:
    """One row per ``(name, model, x, t)`` of ``models`` (the benchmark's: :func:`_models`)."""
    rows = []
    for name, model, x, t in models:
        _, params, _ = model.init(jax.random.key(0), x.shape)
        v = otu.tree_random_like(jax.random.key(5), params)
        runners = {way: function_runner(jax.jit(fn), (params, v), config.warmup)
                   for way, fn in hvp_functions(model, x, t).items()}  # fmt: skip
        ms = time_interleaved([r[1] for r in runners.values()], rounds=config.rounds,
                              steps=config.steps)  # fmt: skip
        times = dict(zip(runners, ms, strict=True))
        errors = _agreement(model, x, t)
        row: Row = {"model": name}
        for way, (compiled, _) in runners.items():
            row |= {
                f"{way}_ms": float(times[way]),
                f"{way}_speedup": float(times["autodiff"] / times[way]),
                f"{way}_temp_bytes": compiled.temp_bytes,
                f"{way}_compile_s": compiled.compile_s,
                f"{way}_max_rel_err": errors[way],
            }
        row["rounds"] = config.rounds
        rows.append(row)
    return rows
