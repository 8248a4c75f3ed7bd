"""Batch norm inside models: state threading, train steps. Its gradients in train and eval mode
are verified by the layer contract (tests/core/test_layer_registry.py)."""

import jax
import numpy as np
import optax

from funcnet.layers import batch_norm, dense, serial, tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import cnn, mlp
from funcnet.train import make_eval_step, make_train_step

LOSS = softmax_cross_entropy_with_integer_labels()


def small_batch(n=8, features=5, classes=3, seed=0):
    kx, kt = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kx, (n, features)), jax.random.randint(kt, (n,), 0, classes)


def bn_mlp():
    # tanh keeps the check off relu's kink; the BN state is non-trivial so eval mode is tested
    return serial(dense(6, use_bias=False), batch_norm(), tanh(), dense(3))


def test_manual_and_autodiff_paths_return_identical_new_states():
    model = bn_mlp()
    x, t = small_batch()
    _, params, state = model.init(jax.random.key(1), x.shape)

    def loss(p, backward):
        y, new_state = model.apply(p, state, x, train=True, backward=backward)
        return LOSS(y, t, backward=backward), new_state

    out = {
        b: jax.jit(jax.value_and_grad(lambda p, b=b: loss(p, b), has_aux=True))(params)
        for b in ("manual", "autodiff")
    }
    (_, s_manual), _ = out["manual"]
    (_, s_autodiff), _ = out["autodiff"]
    for a, b in zip(jax.tree.leaves(s_manual), jax.tree.leaves(s_autodiff), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(s_manual[1].mean, 0)  # the state did move


def test_serial_threads_each_layers_state_through_training_calls():
    model = serial(batch_norm(momentum=0.5), dense(4), batch_norm(momentum=0.0))
    x, _ = small_batch()
    _, params, state = model.init(jax.random.key(0), x.shape)
    _, state1 = model.apply(params, state, x, train=True)
    _, state2 = model.apply(params, state1, x, train=True)
    xn = np.asarray(x, np.float64)
    # the first BN saw x twice: 0.5·(0.5·0 + 0.5·μ) + 0.5·μ = 0.75·μ
    np.testing.assert_allclose(state2[0].mean, 0.75 * xn.mean(0), rtol=1e-5, atol=1e-7)
    # the second (momentum 0) holds exactly the last batch's statistics of its own input
    hidden = serial(batch_norm(momentum=0.5), dense(4))
    h, _ = hidden.apply(params[:2], state1[:2], x, train=True)
    np.testing.assert_allclose(state2[2].var, np.var(np.asarray(h), 0, ddof=1), rtol=1e-4)
    assert state2[1] == ()
    # evaluation leaves the state alone
    _, state3 = model.apply(params, state2, x, train=False)
    assert state3 == state2


def test_mlp_and_cnn_with_batch_norm_train_and_update_their_statistics():
    x, t = small_batch(n=16, features=4 * 4)
    for model, inputs in ((mlp((8,), 3, batch_norm=True), x),
                          (cnn(2, 3, channels=(2,), hidden_features=4, batch_norm=True),
                           x.reshape(16, 4, 4, 1))):  # fmt: skip
        _, params, state = model.init(jax.random.key(0), inputs.shape)
        opt = optax.adam(1e-2)
        step = make_train_step(model, LOSS, opt, donate=False)
        new_params, new_state, _, metrics = step(params, state, opt.init(params), (inputs, t), None)
        assert np.isfinite(float(metrics["loss"]))
        moved = [not np.array_equal(a, b) for a, b in
                 zip(jax.tree.leaves(state), jax.tree.leaves(new_state), strict=True)]  # fmt: skip
        assert moved and all(moved)
        metrics = make_eval_step(model, LOSS)(new_params, new_state, (inputs, t))
        assert np.isfinite(float(metrics["loss"]))


def test_models_without_batch_norm_are_unchanged():
    _, params, state = mlp((8,), 3).init(jax.random.key(0), (2, 4))
    assert [type(p).__name__ for p in params] == ["DenseParams", "tuple", "DenseParams"]
    assert params[0].b is not None and state == ((), (), ())
    _, params, _ = mlp((8,), 3, batch_norm=True).init(jax.random.key(0), (2, 4))
    assert params[0].b is None and type(params[1]).__name__ == "BatchNormParams"
    n_plain = len(
        cnn(2, 3, channels=(2,), hidden_features=4).init(jax.random.key(0), (2, 4, 4, 1))[1]
    )
    assert n_plain == 7  # conv, relu, pool, flatten, dense, relu, dense
