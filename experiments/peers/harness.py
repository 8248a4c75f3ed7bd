"""What every peer script shares: the problems, funcnet's manual step, the interleaved timing.

A peer script calls :func:`run_peer` with one *builder* per framework. A builder takes a
:class:`Problem` (funcnet's synthetic batch and initial weights, as numpy arrays) and returns
``(run_one_step, initial_loss)``: a closure that performs one SGD step of the peer's model on
that batch and returns something to block on, and the peer's loss at funcnet's initial
weights (compared with funcnet's own, to show that both sides train the same network).

Within the one process, rounds of the peer's step and of funcnet's manual-gradient step
(:func:`funcnet.bench.timing.train_step_runner`) alternate
(:func:`funcnet.bench.timing.time_interleaved`); the medians and their ratio are printed as
one JSON line on stdout, which ``run_peers.py`` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet.bench import cnn as cnn_bench
from funcnet.bench import mlp as mlp_bench
from funcnet.bench.registry import BenchConfig
from funcnet.bench.timing import time_interleaved, train_step_runner
from funcnet.core.layer import Layer
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp

LEARNING_RATE = 1e-2
MODELS = {"mlp": "mlp 784-512-512-10, batch 128", "cnn": "cnn 28×28×1, batch 64"}
CNN_FEATURES = (cnn_bench.SIDE // 4, cnn_bench.SIDE // 4, 64)  # the head's input, NHWC


class Problem(NamedTuple):
    name: str  # "mlp" or "cnn"
    model: Layer  # funcnet's model
    x: np.ndarray  # float32; [batch, 784] or NHWC [batch, 28, 28, 1]
    t: np.ndarray  # int32 labels
    # (w, b) per trainable layer in funcnet's layout: dense w [in, out], conv w HWIO; the
    # CNN's head expects the NHWC feature map flattened (see channels_first_head).
    weights: list[tuple[np.ndarray, np.ndarray]]


Builder = Callable[[Problem], tuple[Callable[[], Any], float]]


def make_problem(name: str) -> Problem:
    """The batch of funcnet/bench/mlp.py or cnn.py (same keys) and funcnet's initial weights
    (the key that :func:`train_step_runner` initialises with)."""
    kx, ky = jax.random.split(jax.random.key(1))
    if name == "mlp":
        shape = (mlp_bench.BATCH, mlp_bench.INPUTS)
        model, classes = mlp(mlp_bench.HIDDEN, mlp_bench.CLASSES), mlp_bench.CLASSES
    else:
        shape = (cnn_bench.BATCH, cnn_bench.SIDE, cnn_bench.SIDE, 1)
        model, classes = cnn_bench.funcnet_cnn(), cnn_bench.CLASSES
    x = jax.random.normal(kx, shape, jnp.float32)
    t = jax.random.randint(ky, (shape[0],), 0, classes, dtype=jnp.int32)
    _, params, _ = model.init(jax.random.key(0), shape)
    weights = [(np.asarray(p.w), np.asarray(p.b)) for p in params if hasattr(p, "w")]
    return Problem(name, model, np.asarray(x), np.asarray(t), weights)


def channels_first_head(w: np.ndarray) -> np.ndarray:
    """The CNN head's ``[h·w·c, out]`` weight reordered for a CHW-flattened feature map."""
    h, w_, c = CNN_FEATURES
    return w.reshape(h, w_, c, -1).transpose(2, 0, 1, 3).reshape(h * w_ * c, -1)


def funcnet_initial_loss(problem: Problem) -> float:
    _, params, state = problem.model.init(jax.random.key(0), problem.x.shape)
    y, _ = problem.model.apply(params, state, jnp.asarray(problem.x))
    return float(softmax_cross_entropy_with_integer_labels()(y, jnp.asarray(problem.t)))


def compare(peer: str, build: Builder, problem: Problem, config: BenchConfig) -> dict[str, Any]:
    """Median ms per step of ``peer`` and of funcnet's manual step, in interleaved rounds."""
    run_peer_step, peer_loss = build(problem)
    for _ in range(config.warmup):
        jax.block_until_ready(run_peer_step())
    batch = (jnp.asarray(problem.x), jnp.asarray(problem.t))
    loss, optimizer = softmax_cross_entropy_with_integer_labels(), optax.sgd(LEARNING_RATE)
    _, run_funcnet_step = train_step_runner(
        problem.model, loss, optimizer, batch, "manual", config.warmup
    )
    peer_ms, funcnet_ms = time_interleaved(
        [run_peer_step, run_funcnet_step], rounds=config.rounds, steps=config.steps
    )
    return {
        "model": MODELS[problem.name],
        "peer": peer,
        "peer_ms": peer_ms,
        "funcnet_ms": funcnet_ms,
        "ratio": peer_ms / funcnet_ms,
        "initial_loss_diff": abs(peer_loss - funcnet_initial_loss(problem)),
    }


def parse_config(argv: list[str] | None = None) -> tuple[BenchConfig, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = BenchConfig()
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args(argv)
    return BenchConfig(args.rounds, args.steps, args.warmup), args.models


def run_peer(builders: dict[str, Builder], versions: dict[str, str]) -> None:
    """Time every builder on every requested model; print the rows as one JSON line."""
    config, models = parse_config()
    rows = []
    for name in models:
        problem = make_problem(name)
        for peer, build in builders.items():
            row = compare(peer, build, problem, config)
            print(
                f"{row['model']} | {peer}: {row['peer_ms']:.2f} ms, funcnet "
                f"{row['funcnet_ms']:.2f} ms, ratio {row['ratio']:.2f}",
                file=sys.stderr,
            )
            rows.append(row)
    versions = {"jax": jax.__version__, "optax": optax.__version__, **versions}
    print(json.dumps({"rows": rows, "versions": versions}))


def skip(peer: str, error: ImportError) -> None:
    """Report a peer that is not installed (a JSON line) and exit cleanly."""
    print(f"{peer}: skipped ({error})", file=sys.stderr)
    print(json.dumps({"skipped": {peer: str(error)}}))
    sys.exit(0)
