"""Per-example gradients and the per-example (DP-SGD) training step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.layers import dense, dropout, serial
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train import make_per_example_train_step, per_example_grads

LOSS = softmax_cross_entropy_with_integer_labels()


def _setup(batch=6):
    model = mlp((16,), 3)
    _, params, state = model.init(jax.random.key(0), (batch, 5))
    x = jax.random.normal(jax.random.key(1), (batch, 5))
    t = jax.random.randint(jax.random.key(2), (batch,), 0, 3)
    return model, params, state, (x, t)


def _loss_of(model, state):
    return lambda p, x, t: LOSS(model.apply(p, state, x)[0], t)


def _flat(tree) -> np.ndarray:
    """Each example's gradient as one row: [B, number of parameters]."""
    leaves = jax.tree.leaves(tree)
    return np.concatenate([np.asarray(g).reshape(g.shape[0], -1) for g in leaves], axis=1)


def test_per_example_grads_match_one_example_at_a_time():
    model, params, state, (x, t) = _setup()
    grads = per_example_grads(model, LOSS)(params, state, (x, t), None)
    assert grads[0].w.shape == (6, 5, 16) and grads[2].b.shape == (6, 3)
    for i in (0, 5):
        single = jax.grad(_loss_of(model, state))(params, x[i : i + 1], t[i : i + 1])
        for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(single), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6)


def test_their_mean_is_the_batch_gradient_and_autodiff_agrees():
    model, params, state, (x, t) = _setup()
    grads = per_example_grads(model, LOSS)(params, state, (x, t), None)
    full = jax.grad(_loss_of(model, state))(params, x, t)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(full), strict=True):
        np.testing.assert_allclose(a.mean(0), b, rtol=1e-4, atol=1e-6)
    auto = per_example_grads(model, LOSS, backward="autodiff")(params, state, (x, t), None)
    np.testing.assert_allclose(_flat(auto), _flat(grads), rtol=1e-5, atol=1e-6)


def test_per_example_grads_under_an_outer_vmap_over_parameter_sets():
    # An ensemble of two parameter sets: the per-example function composes with vmap.
    model, params, state, batch = _setup()
    _, other, _ = model.init(jax.random.key(7), (6, 5))
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, other)
    fn = per_example_grads(model, LOSS)
    both = jax.vmap(fn, in_axes=(0, None, None, None))(stacked, state, batch, None)
    np.testing.assert_allclose(both[0].w[1], fn(other, state, batch, None)[0].w, rtol=1e-6)


def test_each_example_draws_its_own_key():
    model = serial(dense(8), dropout(0.5), dense(3))
    _, params, state = model.init(jax.random.key(0), (4, 5))
    x, t = jax.random.normal(jax.random.key(1), (4, 5)), jnp.array([0, 1, 2, 1])
    key = jax.random.key(9)
    grads = per_example_grads(model, LOSS)(params, state, (x, t), key)

    def loss_of(p, i, k):
        y, _ = model.apply(p, state, x[i : i + 1], key=k, train=True)
        return LOSS(y, t[i : i + 1])

    keys = jax.random.split(key, 4)
    for i in range(4):
        single = jax.grad(loss_of)(params, i, keys[i])
        np.testing.assert_allclose(grads[0].w[i], single[0].w, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(grads[0].w[0] != 0, grads[0].w[1] != 0)  # different masks


def test_out_receives_the_gradients_in_its_own_buffers():
    model, params, state, batch = _setup()
    grads = per_example_grads(model, LOSS)
    first = grads(params, state, batch, None)
    expected = [np.array(leaf) for leaf in jax.tree.leaves(first)]  # copies, not views
    pointers = [leaf.unsafe_buffer_pointer() for leaf in jax.tree.leaves(first)]
    other = jax.tree.map(lambda a: a + 1.0, params)
    again = grads(other, state, batch, None, out=first)
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(first))  # donated
    assert [leaf.unsafe_buffer_pointer() for leaf in jax.tree.leaves(again)] == pointers
    back = grads(params, state, batch, None, again)
    for a, b in zip(jax.tree.leaves(back), expected, strict=True):
        np.testing.assert_array_equal(a, b)  # the same bits as the call without out


def test_out_of_other_shapes_is_a_clear_error():
    model, params, state, batch = _setup()
    grads = per_example_grads(model, LOSS)
    smaller = grads(params, state, jax.tree.map(lambda a: a[:3], batch), None)
    with pytest.raises(ValueError, match=r"per_example_grads: expected out to be None or an "
                       r"earlier result with the same shapes, .*shape=\(6, 5, 16\).* got .*"
                       r"shape=\(3, 5, 16\)"):  # fmt: skip
        grads(params, state, batch, None, smaller)


def _dp_step(model, clip, noise, lr=1.0, seed=0):
    optimizer = optax.chain(
        optax.contrib.differentially_private_aggregate(clip, noise, jax.random.key(seed)),
        optax.sgd(lr),
    )
    step = make_per_example_train_step(model, LOSS, optimizer, donate=False)
    return step, optimizer


def test_dp_aggregate_is_the_mean_of_per_example_gradients_clipped_to_norm_c():
    model, params, state, batch = _setup()
    clip = 2.1  # the per-example norms lie between 1.6 and 4.4
    step, opt = _dp_step(model, clip, noise=0.0)
    new_params, _, _, metrics = step(params, state, opt.init(params), batch, None)
    update = _flat(jax.tree.map(lambda a, b: (a - b)[None], params, new_params))[0]

    per_example = _flat(per_example_grads(model, LOSS)(params, state, batch, None))
    norms = np.linalg.norm(per_example, axis=1)
    assert (norms > clip).any() and (norms < clip).any()  # both branches of the clip
    clipped = per_example * np.minimum(1.0, clip / norms)[:, None]
    assert np.linalg.norm(clipped, axis=1).max() <= clip * (1 + 1e-6)
    np.testing.assert_allclose(update, clipped.mean(0), rtol=1e-5, atol=1e-7)
    assert float(metrics["loss"]) == pytest.approx(float(_loss_of(model, state)(params, *batch)))


def test_one_example_moves_the_parameters_by_at_most_c():
    model, params, state, (x, t) = _setup()
    clip, lr = 1e-3, 1.0
    step, opt = _dp_step(model, clip, noise=0.0, lr=lr)
    for i in range(3):
        new_params, *_ = step(params, state, opt.init(params), (x[i : i + 1], t[i : i + 1]), None)
        moved = _flat(jax.tree.map(lambda a, b: (a - b)[None], params, new_params))[0]
        assert np.linalg.norm(moved) == pytest.approx(lr * clip, rel=1e-4)


def test_dp_noise_has_standard_deviation_sigma_c_over_b():
    model, params, state, batch = _setup(batch=4)
    clip, sigma = 0.5, 2.0
    steps = {noise: _dp_step(model, clip, noise) for noise in (0.0, sigma)}
    moved = {}
    for noise, (step, opt) in steps.items():
        new_params, *_ = step(params, state, opt.init(params), batch, None)
        moved[noise] = _flat(jax.tree.map(lambda a, b: (a - b)[None], params, new_params))[0]
    noise = moved[sigma] - moved[0.0]  # 147 draws of N(0, (σC/B)²)
    assert noise.std() == pytest.approx(sigma * clip / 4, rel=0.25)
    assert abs(noise.mean()) < 3 * sigma * clip / 4 / np.sqrt(noise.size)


def test_an_optimizer_that_keeps_the_batch_axis_is_a_clear_error():
    model, params, state, batch = _setup()
    step = make_per_example_train_step(model, LOSS, optax.sgd(0.1), donate=False)
    with pytest.raises(ValueError, match=r"expected the optimizer to reduce .* got an update of "):
        step(params, state, optax.sgd(0.1).init(params), batch, None)


def test_bad_backward_is_rejected_when_building():
    model, *_ = _setup()
    with pytest.raises(TypeError, match="per_example_grads: expected backward"):
        per_example_grads(model, LOSS, backward=None)
    with pytest.raises(ValueError, match="make_per_example_train_step: expected backward"):
        make_per_example_train_step(model, LOSS, optax.sgd(0.1), backward="auto")
