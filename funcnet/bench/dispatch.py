"""Benchmark: the fixed cost of calling a jitted training step (dispatch overhead).

A model so small (dense 4→1, batch 8, mean squared error, SGD) that the computation takes a
few microseconds, so the time of a call is the cost of getting into and out of the compiled
step: flattening the argument pytrees, checking the cached trace, donating buffers, launching
the executable and wrapping the outputs (params, state, optimizer state, metrics).

Two numbers per path: ``call_us``, the median time of one call (the step runs asynchronously,
so this is what a training loop pays per step), and ``roundtrip_us``, the median time of a
call followed by waiting for its result. ``manual_ms``/``autodiff_ms`` are ``call_us`` in
milliseconds; their spread is that of each round's median call time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import Timing, compile_step
from funcnet.layers.dense import dense
from funcnet.losses import mean_squared_error
from funcnet.train.step import make_train_step

BATCH, INPUTS, CALLS_PER_STEP = 8, 4, 20


def _runner(backward: str) -> tuple[Any, Callable[[], Any]]:
    """The compiled step (for its compile time and memory) and a one-call runner of the jitted
    step itself, as a user calls it, feeding the donated buffers back in."""
    model, optimizer = dense(1), optax.sgd(1e-2)
    _, params, state = model.init(jax.random.key(0), (BATCH, INPUTS))
    batch = (jnp.ones((BATCH, INPUTS)), jnp.zeros((BATCH, 1)))
    step = make_train_step(model, mean_squared_error(), optimizer, backward=backward)
    carry = [params, state, optimizer.init(params)]
    compiled = compile_step(step, *carry, batch, None)

    def run_one() -> Any:
        out = step(*carry, batch, None)
        carry[:] = out[:3]
        return out[3]["loss"]

    return compiled, run_one


def _call_times_us(run: Callable[[], Any], calls: int, wait: bool) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        out = run()
        if wait:
            jax.block_until_ready(out)
        times.append((time.perf_counter() - start) * 1e6)
    jax.block_until_ready(out)
    return times


@benchmark("dispatch")
def dispatch_benchmark(config: BenchConfig) -> list[Row]:
    (manual, run_manual), (autodiff, run_autodiff) = _runner("manual"), _runner("autodiff")
    runners = [run_manual, run_autodiff]
    for run in runners:
        _call_times_us(run, 50 * max(config.warmup, 1), wait=False)
    calls = CALLS_PER_STEP * config.steps
    samples: dict[tuple[int, bool], list[float]] = {}
    per_round: list[list[float]] = [[], []]  # each round's median call time (ms), per path
    for r in range(config.rounds):  # alternate which path goes first, round by round
        for i in range(2) if r % 2 == 0 else (1, 0):
            for wait in (False, True):
                times = _call_times_us(runners[i], calls, wait)
                samples.setdefault((i, wait), []).extend(times)
                if not wait:
                    per_round[i].append(statistics.median(times) / 1e3)
    us = {key: statistics.median(values) for key, values in samples.items()}
    return [
        comparison_row(
            f"dispatch_dense_{INPUTS}x1_b{BATCH}",
            manual,
            autodiff,
            [Timing(per_round[i], median=us[i, False] / 1e3) for i in (0, 1)],
            manual_call_us=us[0, False],
            autodiff_call_us=us[1, False],
            manual_roundtrip_us=us[0, True],
            autodiff_roundtrip_us=us[1, True],
            calls=len(samples[0, False]),
        )
    ]
