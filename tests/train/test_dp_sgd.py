"""Ghost clipping: ``clipped_grad`` equals clipping the vmap per-example gradients, per layer
family; the DP-SGD step built on it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.core.layer import Layer
from funcnet.layers import (
    batch_norm,
    conv2d,
    conv_transpose2d,
    dense,
    flatten,
    group_norm,
    lstm,
    relu,
    rms_norm,
    serial,
)
from funcnet.layers.recurrent.elman import rnn_description
from funcnet.layers.recurrent.sequence import sequence_layer
from funcnet.losses import mean_squared_error, softmax_cross_entropy_with_integer_labels
from funcnet.models import transformer_lm
from funcnet.train import clipped_grad, make_dp_sgd_train_step
from funcnet.train.dp_sgd import add_gaussian_noise

CE, MSE = softmax_cross_entropy_with_integer_labels(), mean_squared_error()
B = 4


def _data(kind: str, dtype):
    kx, kt = jax.random.split(jax.random.key(1))
    if kind == "ids":  # token ids [B, 5], labels [B, 5]
        x = jax.random.randint(kx, (B, 5), -1, 7)  # -1 and 6 are out of range (vocabulary 6)
        return x, jax.random.randint(kt, (B, 5), 0, 6)
    shapes = {"vector": (B, 5), "sequence": (B, 2, 6), "image": (B, 5, 5, 2)}
    x = jax.random.normal(kx, shapes[kind], dtype)
    return x, jax.random.randint(kt, (B,) + (shapes[kind][1:2] if kind == "sequence" else ()),
                                 0, 3)  # fmt: skip


FAMILIES = {  # name: (model, data kind)
    # T = 2 positions: T(m + n) < mn, so both dense layers take the Gram form
    "dense_gram_rms_norm": (lambda d: serial(dense(8, dtype=d), rms_norm(dtype=d), relu(),
                                             dense(3, dtype=d)), "sequence"),
    "conv_groups_stride": (lambda d: serial(conv2d(4, 2, stride=2, groups=2, dtype=d), relu(),
                                            flatten(num_position_axes=2), dense(3, dtype=d)),
                           "image"),
    # embedding, learned positions, layer norm, attention projections, dense
    "transformer_lm": (lambda d: transformer_lm(6, context=5, features=4, num_heads=2,
                                                num_blocks=1, dtype=d), "ids"),
    # group norm per example over its positions, a strided transposed convolution, an LSTM over
    # the rows (the recurrent norms: one reverse scan; each cell's are checked per op)
    "group_norm_conv_transpose_lstm": (lambda d: serial(
        group_norm(2, num_position_axes=2, dtype=d), conv_transpose2d(2, 2, stride=2, dtype=d),
        flatten(num_position_axes=1), lstm(3, return_sequences=False, dtype=d)), "image"),
}  # fmt: skip


def _reference_and_ghost(model, state, train=True):
    """``(params, batch) -> (clipped sum, norms, clip; ghost clipped sum, norms)``: per-example
    gradients by ``jax.vmap`` of the backward (as ``per_example_grads``), clipped to their median
    norm (some clipped, some not) and summed; and ``clipped_grad`` with the same clip, all in one
    compiled function (one compile per family)."""

    def one(params, x, t):
        return jax.grad(lambda p: CE(model.apply(p, state, x[None])[0], t[None]))(params)

    def both(params, batch):
        grads = jax.vmap(one, in_axes=(None, 0, 0))(params, *batch)
        rows = [g.reshape(B, -1) for g in jax.tree.leaves(grads)]
        norms = jnp.sqrt(sum(jnp.sum(r * r, axis=1) for r in rows))
        clip = jnp.median(norms)
        factors = jnp.minimum(1.0, clip / norms)
        expected = jax.tree.map(lambda g: jnp.tensordot(factors, g, 1), grads)
        ghost = clipped_grad(model, CE, params, state, batch, clip, train=train)
        return expected, norms, clip, *ghost

    return jax.jit(both)


def _max_relative_error(a, b) -> float:
    return max(float(jnp.max(jnp.abs(x - y)) / jnp.max(jnp.abs(y)))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))  # fmt: skip


def _compare(family: str, dtype) -> tuple[float, float]:
    make, kind = FAMILIES[family]
    model, batch = make(dtype), _data(kind, dtype)
    _, params, state = model.init(jax.random.key(0), batch[0].shape)
    expected, norms, clip, got, got_norms = _reference_and_ghost(model, state)(params, batch)
    assert float(jnp.min(norms)) < clip < float(jnp.max(norms))  # some clipped, some not
    return _max_relative_error(got, expected), float(jnp.max(jnp.abs(got_norms / norms - 1)))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_clipped_grad_equals_clipping_per_example_gradients_float64(x64, family):
    grad_error, norm_error = _compare(family, jnp.float64)
    assert grad_error <= 1e-12 and norm_error <= 1e-12, (grad_error, norm_error)


def test_batch_norm_in_evaluation_mode_gets_per_example_norms(x64):
    # frozen statistics (fine-tuning): the examples are independent, unlike in training mode
    model = serial(dense(4, dtype=jnp.float64), batch_norm(dtype=jnp.float64), relu(),
                   dense(3, dtype=jnp.float64))  # fmt: skip
    batch = _data("vector", jnp.float64)
    _, params, state = model.init(jax.random.key(0), batch[0].shape)
    state = jax.tree.map(lambda s: s + 0.3, state)  # statistics other than the initial ones
    expected, norms, _, got, got_norms = _reference_and_ghost(model, state, train=False)(
        params, batch
    )
    assert _max_relative_error(got, expected) <= 1e-12
    np.testing.assert_allclose(got_norms, norms, rtol=1e-12)


def test_an_op_without_norms_or_a_shared_parameter_is_an_error():
    x = jnp.ones((B, 3))
    model = serial(dense(3), batch_norm())
    _, params, state = model.init(jax.random.key(0), x.shape)
    with pytest.raises(TypeError, match=r"'batch_norm'.*does not"):
        clipped_grad(model, MSE, params, state, (x, x), 1.0)
    cell = rnn_description()._replace(step_bwd_factors=None)  # a cell written without factors
    layer = sequence_layer(cell, 3)
    _, p, s = layer.init(jax.random.key(0), (B, 2, 3))
    with pytest.raises(TypeError, match=r"'rnn'.*does not"):
        clipped_grad(layer, MSE, p, s, (jnp.ones((B, 2, 3)), jnp.ones((B, 2, 3))), 1.0)
    layer = dense(3)
    _, p, s = layer.init(jax.random.key(0), x.shape)

    def tied(params, state, x, **kw):  # one weight used twice
        return layer.apply(params, state, layer.apply(params, state, x, **kw)[0], **kw)

    with pytest.raises(ValueError, match="each parameter to reach one op"):
        clipped_grad(Layer("tied", layer.init, tied), MSE, p, s, (x, x), 1.0)

    def cast(params, state, x, **kw):  # the weight reaches the op only after a cast
        return layer.apply(params._replace(w=params.w * 1.0), state, x, **kw)

    with pytest.raises(ValueError, match=r"params\.w.*after a transformation"):
        clipped_grad(Layer("cast", layer.init, cast), MSE, p, s, (x, x), 1.0)
    with pytest.raises(ValueError, match="l2_clip"):
        clipped_grad(layer, MSE, p, s, (x, x), 0.0)


def test_float32_and_the_dp_step_applies_the_clipped_mean_padding_counting_for_nothing():
    model, (x, t) = dense(3), _data("vector", jnp.float32)
    _, params, state = model.init(jax.random.key(0), x.shape)
    expected, norms, clip, clipped, got_norms = _reference_and_ghost(model, state)(params, (x, t))
    assert float(jnp.min(norms)) < clip < float(jnp.max(norms))
    assert _max_relative_error(clipped, expected) <= 1e-5
    assert float(jnp.max(jnp.abs(got_norms / norms - 1))) <= 1e-5
    sgd = optax.sgd(1.0)
    step = make_dp_sgd_train_step(model, CE, sgd, l2_clip=float(clip), noise_multiplier=0.0,
                                  expected_batch_size=B, donate=False)  # fmt: skip
    pad = lambda a: jnp.concatenate([a, jnp.zeros((2, *a.shape[1:]), a.dtype)])  # noqa: E731
    mask = jnp.arange(B + 2) < B
    new, _, _, metrics = step(params, state, sgd.init(params), (pad(x), pad(t), mask), None)
    applied = jax.tree.map(lambda p, g: p - g / B, params, clipped)
    assert _max_relative_error(new, applied) < 1e-6
    np.testing.assert_allclose(metrics["loss"], CE(model.apply(params, state, x)[0], t), rtol=1e-6)
    np.testing.assert_allclose(metrics["clipped_fraction"], 0.5)  # B = 4, clipped to the median
    noisy = make_dp_sgd_train_step(model, CE, sgd, l2_clip=1.0, noise_multiplier=1.0, donate=False)
    with pytest.raises(ValueError, match="key"):
        noisy(params, state, sgd.init(params), (x, t), None)
    moved, *_ = noisy(params, state, sgd.init(params), (x, t), jax.random.key(3))
    assert _max_relative_error(moved, params) > 1e-2  # the noise moved it


def test_noise_drawn_in_blocks_is_standard_normal_and_never_repeats():
    grads = {"big": jnp.zeros((4096, 16)), "small": jnp.zeros((3,))}
    noisy = jax.jit(add_gaussian_noise)(grads, jax.random.key(0), 2.0)
    big = np.asarray(noisy["big"]) / 2.0
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01
    blocks = big.reshape(-1, 2048 * 16)  # the loop's blocks (32,768 elements)
    assert np.abs(np.corrcoef(blocks)[np.triu_indices(len(blocks), 1)]).max() < 0.05
    assert np.all(noisy["small"] != 0)
