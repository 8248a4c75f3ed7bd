"""Measuring compiled steps: compile time, temporary memory, and interleaved step time.

Machines are noisy, so manual and autodiff are timed in alternating rounds within one process
and compared by the ratio of their medians; each round runs several steps and the per-step
time of a round is what enters the median.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Timing(float):
    """A median time (a ``float``, usable as one) that keeps the per-round times it is the
    median of (or, given ``median``, that it summarises), so that a result row can show their
    spread."""

    samples: tuple[float, ...]

    def __new__(cls, samples: Sequence[float], median: float | None = None) -> Timing:
        timing = super().__new__(cls, statistics.median(samples) if median is None else median)
        timing.samples = tuple(float(s) for s in samples)
        return timing


class Compiled(NamedTuple):
    fn: Callable[..., Any]  # the compiled executable
    compile_s: float  # lowering plus compilation
    temp_bytes: int  # XLA's temporary buffer size for one call (-1 when unknown)


def compile_step(step: Any, *args: Any) -> Compiled:
    """Lower and compile a jitted ``step`` for ``args``, timing it and reading its memory."""
    start = time.perf_counter()
    compiled = step.lower(*args).compile()
    seconds = time.perf_counter() - start
    analysis = compiled.memory_analysis()
    temp = int(analysis.temp_size_in_bytes) if analysis is not None else -1
    return Compiled(compiled, seconds, temp)


def time_interleaved(
    runners: Sequence[Callable[[], Any]], *, rounds: int, steps: int
) -> list[Timing]:
    """Median milliseconds per step of each runner, alternating their order round by round;
    each median is a :class:`Timing` holding the per-round times.

    Each runner performs one step and returns something to block on; it carries its own state
    (donated buffers) between calls.
    """
    samples: list[list[float]] = [[] for _ in runners]
    for r in range(rounds):
        order = range(len(runners)) if r % 2 == 0 else reversed(range(len(runners)))
        for i in order:
            start = time.perf_counter()
            for _ in range(steps):
                out = runners[i]()
            jax.block_until_ready(out)
            samples[i].append((time.perf_counter() - start) * 1e3 / steps)
    return [Timing(s) for s in samples]


def step_runner(
    step: Any, carry: Sequence[Any], extra: Sequence[Any], warmup: int
) -> tuple[Compiled, Callable[[], Any]]:
    """Compile ``step(*carry, *extra) -> (*carry, out)`` and return it with a one-step runner.

    The runner feeds the returned carry (donated buffers) back in and returns ``out``.
    """
    compiled = compile_step(step, *carry, *extra)
    state = list(carry)

    def run_one() -> Any:
        result = compiled.fn(*state, *extra)
        state[:] = result[: len(state)]
        return result[len(state)]

    for _ in range(warmup):
        jax.block_until_ready(run_one())
    return compiled, run_one


def function_runner(
    fn: Any, args: Sequence[Any], warmup: int
) -> tuple[Compiled, Callable[[], Any]]:
    """Compile a stateless ``fn(*args)`` and return it with a runner calling it on ``args``."""
    compiled = compile_step(fn, *args)

    def run_one() -> Any:
        return compiled.fn(*args)

    for _ in range(warmup):
        jax.block_until_ready(run_one())
    return compiled, run_one


def time_layer_gradients(
    gradient_step: Callable[[str], tuple[Any, Any]],
    x: Any,
    warmup: int,
    rounds: int,
    steps: int,
) -> tuple[list[Compiled], list[Timing]]:
    """Compile and time ``gradient_step(backward) -> (step(params, x), layer)`` for the manual
    and the autodiff backward (params from ``layer.init`` on ``x``'s shape), interleaved."""
    compiled, runs = [], []
    for backward in ("manual", "autodiff"):
        step, layer = gradient_step(backward)
        _, params, _ = layer.init(jax.random.key(0), x.shape)
        c, run = function_runner(step, (params, x), warmup)
        compiled.append(c)
        runs.append(run)
    return compiled, time_interleaved(runs, rounds=rounds, steps=steps)


def into_runner(fn: Any, args: Sequence[Any], warmup: int) -> tuple[Compiled, Callable[[], Any]]:
    """Compile ``fn(*args, out)``, where ``out`` (donated) is an earlier result, and return it
    with a runner that feeds each result back in as the next ``out``."""
    out = jax.eval_shape(fn, *args)
    compiled = compile_step(fn, *args, out)
    # Any buffers of the right shapes start the chain (calling fn(*args) would compile again).
    previous = [jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out)]

    def run_one() -> Any:
        previous[0] = compiled.fn(*args, previous[0])
        return previous[0]

    for _ in range(warmup):
        jax.block_until_ready(run_one())
    return compiled, run_one


def train_step_runner(model, loss, optimizer, batch, backward, warmup: int):
    """:func:`step_runner` for funcnet's training step of ``model`` with ``backward``."""
    from funcnet.train.step import make_train_step

    _, params, state = model.init(jax.random.key(0), batch[0].shape)
    step = make_train_step(model, loss, optimizer, backward=backward)
    return step_runner(step, (params, state, optimizer.init(params)), (batch, None), warmup)
