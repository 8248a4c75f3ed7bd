"""The fit loop and the main job."""

import shutil

import jax
import numpy as np
import optax
import pytest

from funcnet.data import xor
from funcnet.data.dataset import Dataset, make_dataset
from funcnet.layers.activations import tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.recipes import run
from funcnet.train import checkpoint, fit
from funcnet.train.checkpoint import CheckpointError
from tests.train.bits import assert_same_bits


def test_fit_learns_xor_and_is_deterministic():
    data = xor()
    model = mlp((8,), 2, activation=tanh)
    _, params, state = model.init(jax.random.key(0), (4, 2))

    def go():
        return fit(model, softmax_cross_entropy_with_integer_labels(), optax.adam(0.05), params,
                   state, data, key=jax.random.key(1), epochs=200, batch_size=4, eval_data=data,
                   progress=False)  # fmt: skip

    result = go()
    assert len(result.history) == 200
    assert result.history[-1]["eval_accuracy"] == 1.0
    assert result.history[-1]["train_loss"] < 0.05 < result.history[0]["train_loss"]
    again = go()
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not params[0].w.is_deleted()  # fit copies, so the caller's params survive


def test_fit_rejects_bad_epochs():
    model = mlp((2,), 2)
    _, params, state = model.init(jax.random.key(0), (4, 2))
    with pytest.raises(ValueError, match="fit: expected epochs to be a non-negative integer"):
        fit(model, softmax_cross_entropy_with_integer_labels(), optax.sgd(0.1), params, state,
            xor(), key=jax.random.key(0), epochs=-1, batch_size=4)  # fmt: skip


def test_main_job_on_iris_verifies_then_trains():
    result = run("iris", epochs=30, progress=False)
    assert result["grad_check_passed"]
    assert result["grad_check_max_rel_err"] <= 1e-10
    assert result["test_accuracy"] >= 0.9
    assert result["train_loss"] < result["history"][0]["train_loss"]


def test_main_job_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"funcnet train: expected a dataset in .* got 'mnist'"):
        run("mnist")
    with pytest.raises(ValueError, match="funcnet train: expected a model in"):
        run("iris", "transformer")


def test_main_job_trains_a_cnn_on_images():
    result = run("digits", "cnn", epochs=2, progress=False)
    assert result["grad_check_passed"]
    assert result["grad_check_max_rel_err"] <= 1e-10
    assert result["test_accuracy"] >= 0.8


def test_cnn_is_offered_only_where_a_recipe_exists():
    message = r"expected a model in \['mlp'\] for dataset 'iris', got 'cnn'"
    with pytest.raises(ValueError, match=message):
        run("iris", "cnn")


def _resume_setup():
    rng = np.random.default_rng(0)
    data = make_dataset(rng.normal(size=(24, 4)).astype(np.float32),
                        rng.integers(0, 3, 24).astype(np.int32))  # fmt: skip
    model = mlp((16,), 3)
    _, params, state = model.init(jax.random.key(0), (8, 4))
    # A schedule over the whole run: resuming must restore the optimizer's step count too.
    opt = optax.adam(optax.cosine_decay_schedule(0.05, 9))

    def go(epochs, batch_size=8, **kw):
        return fit(model, softmax_cross_entropy_with_integer_labels(), opt, params, state, data,
                   key=jax.random.key(1), epochs=epochs, batch_size=batch_size, eval_data=data,
                   progress=False, **kw)  # fmt: skip

    return go


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_interrupted_and_resumed_fit_ends_bit_identical(tmp_path):
    go = _resume_setup()
    whole = go(3, checkpoint_dir=tmp_path / "whole")
    first = go(1, checkpoint_dir=tmp_path / "parts")  # then the process "dies"
    assert first.resumed_from_epoch == 0 and len(first.history) == 1
    resumed = go(3, checkpoint_dir=tmp_path / "parts", resume=True)
    assert resumed.resumed_from_epoch == 1
    assert_same_bits((whole.params, whole.opt_state), (resumed.params, resumed.opt_state))
    assert _without_seconds(resumed.history) == _without_seconds(whole.history)
    assert resumed.history[0]["seconds"] == first.history[0]["seconds"]  # restored, not rerun
    # The newest checkpoints of both runs hold the same bits, and steps 3, 6, 9 were kept.
    assert [s for s, _ in checkpoint.checkpoints(tmp_path / "whole")] == [3, 6, 9]
    template = {"params": whole.params, "state": whole.state, "opt_state": whole.opt_state,
                "key": jax.random.key(0)}  # fmt: skip
    a, _ = checkpoint.restore(checkpoint.latest(tmp_path / "whole"), template)
    b, _ = checkpoint.restore(checkpoint.latest(tmp_path / "parts"), template)
    assert_same_bits(a["params"], b["params"])
    assert np.array_equal(jax.random.key_data(a["key"]), jax.random.key_data(b["key"]))


def test_resuming_from_any_mid_epoch_checkpoint_ends_bit_identical(tmp_path):
    go = _resume_setup()  # 24 examples in batches of 8: 3 steps per epoch, 9 in all
    whole = go(3, checkpoint_dir=tmp_path / "whole", checkpoint_every=5,
               checkpoint_every_steps=2, keep_checkpoints=None)  # fmt: skip
    saved = checkpoint.checkpoints(tmp_path / "whole")
    assert [s for s, _ in saved] == [2, 4, 6, 8, 9]  # every 2 steps, and the end of the run
    positions = [
        (m["epoch"], m["batch"]) for m in map(checkpoint.read_metadata, (p for _, p in saved))
    ]
    assert positions == [(0, 2), (1, 1), (2, 0), (2, 2), (3, 0)]
    for step, path in saved[:-1]:
        parts = tmp_path / f"from_{step}"
        parts.mkdir()
        shutil.copy(path, parts)  # as if the process had died right after this save
        resumed = go(3, checkpoint_dir=parts, resume=True)
        assert resumed.resumed_from_step == step
        assert_same_bits((whole.params, whole.opt_state), (resumed.params, resumed.opt_state))
        assert _without_seconds(resumed.history) == _without_seconds(whole.history)


def test_checkpoint_every_steps_must_be_positive(tmp_path):
    go = _resume_setup()
    with pytest.raises(ValueError, match="fit: expected checkpoint_every_steps to be a positive "
                       "integer, got 0"):  # fmt: skip
        go(1, checkpoint_dir=tmp_path, checkpoint_every_steps=0)


def test_resume_without_a_checkpoint_starts_afresh(tmp_path):
    go = _resume_setup()
    plain = go(2)
    resumed = go(2, checkpoint_dir=tmp_path, resume=True, checkpoint_every=5, keep_checkpoints=None)
    assert resumed.resumed_from_epoch == 0
    assert_same_bits(plain.params, resumed.params)
    assert [s for s, _ in checkpoint.checkpoints(tmp_path)] == [6]  # the last epoch always saves


def test_checkpoint_misuse_is_reported(tmp_path):
    go = _resume_setup()
    go(1, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="expected a checkpoint_dir without checkpoints"):
        go(2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="fit: expected a checkpoint_dir to resume from"):
        go(2, resume=True)
    with pytest.raises(ValueError, match="fit: expected checkpoint_every to be a positive"):
        go(2, checkpoint_dir=tmp_path, checkpoint_every=0)
    model = mlp((16,), 3)  # another model: the template does not match the saved tree
    _, params, state = model.init(jax.random.key(0), (8, 5))
    data = make_dataset(np.zeros((24, 5), np.float32), np.zeros(24, np.int32))
    with pytest.raises(CheckpointError, match=r"expected shape \(5, 16\), got \(4, 16\)"):
        fit(model, softmax_cross_entropy_with_integer_labels(), optax.adam(0.1), params, state,
            data, key=jax.random.key(1), epochs=2, batch_size=8, progress=False,
            checkpoint_dir=tmp_path, resume=True)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"expected a run with \{'batch_size': 4"):
        go(2, batch_size=4, checkpoint_dir=tmp_path, resume=True)


def test_fit_names_a_wrong_dataset_at_the_boundary():
    model = mlp((2,), 2)
    _, params, state = model.init(jax.random.key(0), (4, 2))
    data = xor()

    def go(train, **kwargs):
        loss = softmax_cross_entropy_with_integer_labels()
        fit(model, loss, optax.sgd(0.1), params, state, train, key=jax.random.key(0), epochs=1,
            batch_size=4, progress=False, **kwargs)  # fmt: skip

    with pytest.raises(TypeError, match=r"fit: expected train to be a funcnet.data.Dataset"):
        go((data.x, data.y))
    short = Dataset(data.x, data.y[:3])  # built without make_dataset's check
    expected = r"got shapes \(4, 2\) and \(3,\)"
    with pytest.raises(ValueError, match=r"fit: expected train.x and train.y .*" + expected):
        go(short)
    with pytest.raises(ValueError, match=r"fit: expected eval_data.x and eval_data.y"):
        go(data, eval_data=short)
