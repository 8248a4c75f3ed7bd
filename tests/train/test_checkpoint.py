"""Checkpoints: bit-exact round trips, template mismatches, damaged files, kills mid-save."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.train import checkpoint
from funcnet.train.checkpoint import CheckpointError
from tests.train.bits import bits


class Params(NamedTuple):
    w: object
    b: object


def _tree():
    """Every kind of leaf a training run holds, with values whose bits are easy to get wrong."""
    awkward = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38], np.float32)
    return {
        "params": [
            Params(jnp.asarray(awkward), None),  # a dense without bias
            Params(jnp.asarray(awkward, jnp.bfloat16), jnp.arange(3, dtype=jnp.int32)),
        ],
        "state": (),
        "opt_state": optax.adam(1e-3).init({"w": jnp.ones((2, 3))}),
        "key": jax.random.key(7),
        "keys": jax.random.split(jax.random.key(1, impl="rbg"), 2),
        "raw_key": jax.random.PRNGKey(3),
        "float64": np.linspace(0.0, 1.0, 5),  # numpy leaves need no jax_enable_x64
        "float0": np.zeros((2, 3), jax.dtypes.float0),
        "count": 5,
        "weak": jnp.asarray(-0.0),  # a weakly typed scalar, as optax hyperparameters can be
    }


def test_round_trip_is_bit_identical(tmp_path):
    tree = _tree()
    path = checkpoint.save(tmp_path / "c.npz", tree, {"epoch": 3, "history": [{"loss": 0.1}]})
    restored, meta = checkpoint.restore(path, tree)
    assert meta == {"epoch": 3, "history": [{"loss": 0.1}]}
    assert jax.tree.structure(restored) == jax.tree.structure(tree)
    for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(restored), strict=True):
        assert type(a) is type(b) or isinstance(b, jax.Array)
        assert bits(a) == bits(b)
    assert restored["params"][1].w.dtype == jnp.bfloat16
    assert restored["params"][1].b.dtype == jnp.int32
    assert restored["keys"].dtype == tree["keys"].dtype  # key<rbg>, not key<fry>
    assert restored["params"][0].b is None and restored["state"] == ()
    assert restored["weak"].weak_type and not restored["params"][0].w.weak_type
    # A restored typed key draws the same numbers.
    assert jnp.array_equal(
        jax.random.normal(restored["key"], (3,)), jax.random.normal(tree["key"], (3,))
    )


def test_restore_into_shape_dtype_structs(tmp_path):
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "key": jax.random.key(0)}
    path = checkpoint.save(tmp_path / "c.npz", tree)
    template = jax.eval_shape(lambda: tree)
    restored, _ = checkpoint.restore(path, template)
    assert np.array_equal(restored["w"], tree["w"])
    assert jnp.array_equal(jax.random.key_data(restored["key"]), jax.random.key_data(tree["key"]))


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}, r"missing leaves \[\"\['b'\]\"\]"),
        ({}, r"extra leaves \[\"\['w'\]\"\]"),
        ({"w": jnp.zeros((3, 2))}, r"leaf \['w'\]: expected shape \(3, 2\), got \(2, 3\)"),
        ({"w": jnp.zeros((2, 3), jnp.bfloat16)}, r"expected dtype bfloat16, got float32"),
        ({"w": jax.random.split(jax.random.key(0), 2)}, r"expected shape \(2,\), got \(2, 3\)"),
    ],
)
def test_mismatched_template_names_the_file_and_the_leaf(tmp_path, template, message):
    path = checkpoint.save(tmp_path / "c.npz", {"w": jnp.zeros((2, 3))})
    with pytest.raises(
        CheckpointError, match=f"checkpoint {re.escape(str(path))}: does not match .*{message}"
    ):
        checkpoint.restore(path, template)


def test_non_array_leaves_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="expected array leaves, got str"):
        checkpoint.save(tmp_path / "c.npz", {"name": "adam"})


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped":  # inside the first leaf's data: only the zip CRC can tell
        start = data.index(b"\x01\x02\x03\x04")
        data[start + 1] ^= 0xFF
    elif how == "empty":
        data = bytearray()
    elif how == "garbage":
        data = bytearray(b"not a checkpoint at all" * 10)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty", "garbage"])
def test_damaged_files_raise_an_error_naming_the_file(tmp_path, how):
    tree = {"a": np.frombuffer(bytes(range(1, 201)) * 50, np.uint8).copy()}
    path = checkpoint.save(tmp_path / "c.npz", tree)
    _damage(path, how)
    with pytest.raises(
        CheckpointError, match=f"checkpoint {re.escape(str(path))}: .*(corrupted|truncated)"
    ):
        checkpoint.restore(path, tree)


@pytest.mark.parametrize("what", ["pickle", "object_member"])
def test_pickled_content_is_named_and_unpickling_never_suggested(tmp_path, what):
    import pickle

    path = tmp_path / "c.npz"
    if what == "pickle":
        path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
        expected = r"not a funcnet checkpoint: expected an \.npz \(zip\) archive"
    else:  # a zip whose member is an object array: numpy would advise allow_pickle=True
        np.savez(path, __tree__=np.array([{"leaves": []}], dtype=object))
        expected = "holds pickled Python objects, which a funcnet checkpoint never contains"
    with pytest.raises(CheckpointError, match=expected) as raised:
        checkpoint.restore(path, {})
    text = str(raised.value) + "".join(map(str, raised.traceback))
    assert "allow_pickle" not in text and "pickle.load" not in text


def test_missing_file_and_foreign_npz(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.npz: no such file"):
        checkpoint.restore(tmp_path / "nope.npz", {})
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"plain\.npz: not a funcnet checkpoint"):
        checkpoint.restore(tmp_path / "plain.npz", {"a": np.zeros(3)})


def test_directory_keeps_the_newest_and_ignores_temporary_files(tmp_path):
    for step in (10, 2, 30, 20):
        checkpoint.save_step(tmp_path, step, {"x": np.full(3, step)}, {"step": step}, keep=2)
    (tmp_path / ".checkpoint_0000000099.npz.abc.tmp").write_bytes(b"partial")
    assert [s for s, _ in checkpoint.checkpoints(tmp_path)] == [20, 30]
    assert checkpoint.latest(tmp_path).name == "checkpoint_0000000030.npz"
    assert checkpoint.read_metadata(checkpoint.latest(tmp_path)) == {"step": 30}
    assert checkpoint.latest(tmp_path / "absent") is None


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = checkpoint.save(tmp_path / "c.npz", {"x": np.zeros(3)})

    def fail_midway(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"x": np.ones(3)})
    assert os.listdir(tmp_path) == ["c.npz"]
    assert np.array_equal(checkpoint.restore(path, {"x": np.zeros(3)})[0]["x"], np.zeros(3))


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from funcnet.train import checkpoint

    for version in range(1, 10_000):
        tree = {"big": np.full(4_000_000, version, np.float32), "small": np.full(7, version)}
        checkpoint.save_step(sys.argv[1], version, tree, {"version": version}, keep=2)
        print(version, flush=True)
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_killed_mid_save_leaves_only_complete_checkpoints(tmp_path, delay):
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        first = child.stdout.readline()  # one save has completed: there is something to keep
        assert first.strip() == "1"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        rest = child.communicate()[0]
    finally:
        child.kill()
    completed = int(([first, *rest.split()])[-1])
    found = checkpoint.checkpoints(tmp_path)
    assert found, "the completed checkpoint was lost"
    template = {"big": np.zeros(4_000_000, np.float32), "small": np.zeros(7, int)}
    for step, path in found:  # every file under a final name is whole, and is one saved version
        tree, meta = checkpoint.restore(path, template)
        assert meta == {"version": step}
        assert (tree["big"] == step).all() and (tree["small"] == step).all()
    assert found[-1][0] >= completed  # nothing reported as saved is missing
