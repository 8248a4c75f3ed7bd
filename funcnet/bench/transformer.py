"""Benchmarks: the GPT-style LM's training step, and the sub-blocks models are built from.

``transformer``: one AdamW step of ``transformer_lm`` (vocab 97, context 256, model width 256,
4 heads, 4 blocks, batch 16; ``FUNCNET_BENCH_TRANSFORMER=context,features,blocks,batch``
picks other sizes) with the manual backward, direct and lean attention, against the autodiff
step of the same model.

``blocks``: the gradient (parameters and input) of ``Σ sin(y)`` through one sub-block at a
time, manual against autodiff of the same forward, to find where a whole model's ratio comes
from: the transformer's pieces at ``[16, 256, 256]`` and the compositions other models use
(conv → batch_norm → relu, embedding → layer_norm, LSTM → dense). How two hand-written
backward passes compose can cost what neither costs alone (docs/benchmarks.md).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import optax

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import time_interleaved, time_layer_gradients, train_step_runner
from funcnet.core.layer import Layer
from funcnet.layers import (
    batch_norm,
    conv2d,
    dense,
    embedding,
    gelu,
    layer_norm,
    lstm,
    multi_head_attention,
    relu,
    serial,
    transformer_block,
)
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import transformer_lm

VOCAB, HEADS = 97, 4
LM_SIZES = (256, 256, 4, 16)  # context, features, blocks, batch


def lm_sizes_from_env() -> tuple[int, int, int, int]:
    """``(context, features, blocks, batch)`` from ``FUNCNET_BENCH_TRANSFORMER``, or LM_SIZES."""
    text = os.environ.get("FUNCNET_BENCH_TRANSFORMER")
    if not text:
        return LM_SIZES
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) != 4 or min(sizes) <= 0:
        raise ValueError(
            "transformer bench: expected FUNCNET_BENCH_TRANSFORMER to be four positive integers "
            f"context,features,blocks,batch, got {text!r}."
        )
    return sizes  # type: ignore[return-value]


def lm_rows(config: BenchConfig, sizes: tuple[int, int, int, int]) -> list[Row]:
    """The LM's AdamW step, manual (direct and lean attention) against autodiff, interleaved."""
    context, features, blocks, batch_size = sizes
    ids = jax.random.randint(jax.random.key(1), (batch_size, context + 1), 0, VOCAB)
    batch = (ids[:, :-1], ids[:, 1:])
    loss = softmax_cross_entropy_with_integer_labels()

    def model(lean: bool) -> Layer:
        return transformer_lm(VOCAB, context=context, features=features, num_heads=HEADS,
                              num_blocks=blocks, lean=lean)  # fmt: skip

    runs = [
        train_step_runner(model(lean), loss, optax.adamw(3e-4), batch, backward, config.warmup)
        for lean, backward in ((False, "manual"), (True, "manual"), (False, "autodiff"))
    ]
    ms = time_interleaved([run for _, run in runs], rounds=config.rounds, steps=config.steps)
    name = f"transformer_lm_t{context}_d{features}_h{HEADS}_l{blocks}_b{batch_size}"
    autodiff = runs[2][0]
    return [
        comparison_row(name, runs[0][0], autodiff, [ms[0], ms[2]], attention="direct"),
        comparison_row(f"{name}_lean", runs[1][0], autodiff, [ms[1], ms[2]], attention="lean"),
    ]


@benchmark("transformer")
def transformer_benchmark(config: BenchConfig) -> list[Row]:
    return lm_rows(config, lm_sizes_from_env())


# name -> (layer, input shape, integer input?): the sub-blocks of the transformer at
# [16, 256, 256] and the compositions other funcnet models use.
def sub_blocks(scale: int = 1) -> dict[str, tuple[Layer, tuple[int, ...], bool]]:
    """The benchmarked sub-blocks; ``scale`` divides every size (tests use a large one)."""
    b, t, d = 16 // scale or 1, 256 // scale, 256 // scale
    seq = (b, t, d)
    return {
        "transformer_block": (transformer_block(d, HEADS, causal=True), seq, False),
        "multi_head_attention": (multi_head_attention(HEADS, causal=True), seq, False),
        "layer_norm": (layer_norm(), seq, False),
        "dense_4d": (dense(4 * d), seq, False),
        "gelu": (gelu(), (b, t, 4 * d), False),
        "dense_relu_dense": (serial(dense(4 * d), relu(), dense(d)), seq, False),
        "dense_gelu_dense": (serial(dense(4 * d), gelu(), dense(d)), seq, False),
        "conv_batch_norm_relu": (
            serial(conv2d(64 // scale, (3, 3), padding="SAME"), batch_norm(), relu()),
            (64 // scale or 1, 28, 28, 32 // scale),
            False,
        ),
        "embedding_layer_norm": (serial(embedding(VOCAB, d), layer_norm()), (b, t), True),
        "lstm_dense": (serial(lstm(128 // scale), dense(32 // scale)), (64 // scale or 1, 100, 32),
                       False),
    }  # fmt: skip


def gradient_step(layer: Layer, shape: tuple[int, ...], integer_input: bool, backward: str):
    """A jitted ``(params, x) -> gradients`` of ``Σ sin(y)`` through ``layer`` (training mode),
    for the parameters and, for a float input, the input too."""
    _, _, state = layer.init(jax.random.key(0), shape)

    def scalar(params, x):
        y, _ = layer.apply(params, state, x, train=True, backward=backward)
        return jnp.sum(jnp.sin(y))

    return jax.jit(jax.grad(scalar, argnums=0 if integer_input else (0, 1)))


def block_row(name: str, layer: Layer, shape: tuple[int, ...], integer_input: bool,
              config: BenchConfig) -> Row:  # fmt: skip
    """One sub-block's gradient, manual against autodiff, interleaved."""
    key = jax.random.key(1)
    if integer_input:
        x = jax.random.randint(key, shape, 0, VOCAB)
    else:
        x = jax.random.normal(key, shape, jnp.float32)
    compiled, ms = time_layer_gradients(
        lambda b: (gradient_step(layer, shape, integer_input, b), layer),
        x, config.warmup, config.rounds, config.steps,
    )  # fmt: skip
    return comparison_row(name, *compiled, ms, input_shape=list(shape))


@benchmark("blocks")
def blocks_benchmark(config: BenchConfig) -> list[Row]:
    return [block_row(name, *spec, config) for name, spec in sub_blocks().items()]
