"""Benchmark: one SGD step of a small CNN on 28×28×1 images at batch 64 (synthetic data).

    conv 3×3/32 SAME → relu → max-pool 2 → conv 3×3/64 SAME → relu → max-pool 2 → dense 10
    → softmax cross-entropy, SGD

funcnet's manual-gradient step is compared with the same network written the usual JAX way:
``lax.conv_general_dilated``, ``lax.reduce_window`` max-pooling and ``jax.grad`` (its
``autodiff_*`` fields). The row also reports funcnet's own autodiff path and the GFLOP/s each
step achieves (forward and backward convolution and dense FLOPs, counted from the shapes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import lax

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import step_runner, time_interleaved, train_step_runner
from funcnet.layers.activations import relu
from funcnet.layers.combinators import serial
from funcnet.layers.conv import conv2d
from funcnet.layers.dense import dense
from funcnet.layers.flatten import flatten
from funcnet.layers.pool import max_pool2d
from funcnet.losses import softmax_cross_entropy_with_integer_labels

BATCH, SIDE, CLASSES, LEARNING_RATE = 64, 28, 10, 1e-2
DIMS = ("NHWC", "HWIO", "NHWC")


def funcnet_cnn():
    return serial(
        conv2d(32, 3), relu(), max_pool2d(2), conv2d(64, 3), relu(), max_pool2d(2),
        flatten(num_position_axes=2), dense(CLASSES),
    )  # fmt: skip


def baseline_loss(params, x, t):
    """The same CNN the usual JAX way; differentiated by ``jax.grad``."""
    (w1, b1), (w2, b2), (w3, b3) = params

    def block(h, w, b):
        h = lax.conv_general_dilated(h, w, (1, 1), "SAME", dimension_numbers=DIMS)
        h = jax.nn.relu(h + b.reshape(1, 1, 1, -1))
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    h = block(block(x, w1, b1), w2, b2).reshape(x.shape[0], -1)
    logits = h @ w3 + b3.reshape(1, -1)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, t))


def baseline_step(params, opt_state, x, t):
    optimizer = optax.sgd(LEARNING_RATE)
    loss, grads = jax.value_and_grad(baseline_loss)(params, x, t)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def training_flops() -> float:
    """Multiply-adds ×2 of the forward, plus the backward's two products per layer (dX, dW),
    less the first convolution's unneeded dX."""
    conv1 = 2 * BATCH * SIDE * SIDE * 9 * 1 * 32
    conv2 = 2 * BATCH * (SIDE // 2) ** 2 * 9 * 32 * 64
    head = 2 * BATCH * (SIDE // 4) ** 2 * 64 * CLASSES
    return 3 * (conv1 + conv2 + head) - conv1


@benchmark("cnn")
def cnn_benchmark(config: BenchConfig) -> list[Row]:
    kx, ky = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (BATCH, SIDE, SIDE, 1), jnp.float32)
    t = jax.random.randint(ky, (BATCH,), 0, CLASSES, dtype=jnp.int32)
    model, loss = funcnet_cnn(), softmax_cross_entropy_with_integer_labels()
    optimizer = optax.sgd(LEARNING_RATE)
    manual, run_manual = train_step_runner(model, loss, optimizer, (x, t), "manual", config.warmup)
    auto, run_auto = train_step_runner(model, loss, optimizer, (x, t), "autodiff", config.warmup)

    _, params, _ = model.init(jax.random.key(0), x.shape)
    as_pairs = tuple((params[i].w, params[i].b) for i in (0, 3, 7))
    step = jax.jit(baseline_step, donate_argnums=(0, 1))
    carry = (as_pairs, optax.sgd(LEARNING_RATE).init(as_pairs))
    baseline, run_baseline = step_runner(step, carry, (x, t), config.warmup)

    ms = time_interleaved(
        [run_manual, run_baseline, run_auto], rounds=config.rounds, steps=config.steps
    )
    gflop = training_flops() / 1e9
    return [
        comparison_row(
            "cnn_28x28_b64",
            manual,
            baseline,
            ms[:2],
            baseline="lax.conv_general_dilated + lax.reduce_window + jax.grad",
            manual_gflops=gflop / (ms[0] / 1e3),
            autodiff_gflops=gflop / (ms[1] / 1e3),
            funcnet_autodiff_ms=ms[2],
            funcnet_autodiff_temp_bytes=auto.temp_bytes,
        )
    ]
