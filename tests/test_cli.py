"""The command line: JSON contracts and exit codes."""

import argparse
import json

import numpy as np
import pytest

from funcnet.cli import main


def _json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_check_json_contract(capsys):
    code, out = _json(capsys, ["check", "dense", "relu", "softmax_cross_entropy", "--json"])
    assert code == 0 and out["passed"] is True
    assert [op["name"] for op in out["ops"]] == ["dense", "relu", "softmax_cross_entropy"]
    for op in out["ops"]:
        assert {"name", "passed", "max_rel_err_autodiff", "max_rel_err_fd"} <= set(op)
        assert op["max_rel_err_autodiff"] <= 1e-10 and op["max_rel_err_fd"] <= 1e-6


def test_check_table_and_unknown_op(capsys):
    assert main(["check", "tanh", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "tanh" in out and "all ops passed" in out
    assert main(["check", "dense", "--dtype", "bfloat16", "--dtype", "float16"]) == 0
    out = capsys.readouterr().out
    assert "all ops passed (8 cases)" in out  # 4 dense cases × 2 dtypes
    assert main(["check", "nope"]) == 2
    assert "unknown ops ['nope']" in capsys.readouterr().err


def test_check_exit_code_is_nonzero_when_an_op_fails(capsys, monkeypatch):
    from funcnet.core import registry
    from funcnet.core.registry import Arg, Case
    from funcnet.layers.activations import tanh_op

    bad = tanh_op().with_bwd(lambda res, dy: (dy,))
    registry.add_cases("planted_tanh", lambda: [Case("c", bad.renamed("planted_tanh"),
                                                      (Arg((3,)),))])  # fmt: skip
    try:
        code, out = _json(capsys, ["check", "planted_tanh", "--json"])
    finally:
        registry._unregister("planted_tanh")
    assert code == 1 and out["passed"] is False and out["ops"][0]["passed"] is False


def test_check_json_records_gradients_dtypes_seeds_tolerances_and_margins(capsys):
    argv = ["check", "relu", "--json", "--dtype", "float32", "--seed", "3", "--seeds", "2"]
    code, out = _json(capsys, argv)
    assert code == 0 and out["dtypes"] == ["float32"] and out["seeds"] == [3, 4]
    assert out["tolerances"]["float32"]["autodiff"] == pytest.approx(2.0 ** (-23 * 2 / 3))
    assert out["ops"][0]["gradient"] == "exact"
    assert out["smallest_margins"]["float32"]["finite_differences"]["margin"] > 1


def test_check_details_without_json_print_every_leaf(capsys):
    assert main(["check", "relu", "--details"]) == 0
    out = capsys.readouterr().out
    assert "relu / vector (float64, seed 0, exact): passed" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["finite_differences"]]
    assert rows and all(row[1] == "x" and float(row[2]) <= float(row[3]) for row in rows)


def test_train_json_contract(capsys):
    code, out = _json(capsys, ["train", "--dataset", "xor", "--epochs", "300", "--json",
                               "--no-progress"])  # fmt: skip
    assert code == 0
    assert {"test_accuracy", "train_loss", "train_seconds", "grad_check_max_rel_err"} <= set(out)
    assert out["test_accuracy"] == 1.0
    assert out["grad_check_max_rel_err"] <= 1e-10


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_bench_json_contract(capsys, name):
    code, out = _json(capsys, ["bench", name, "--rounds", "2", "--steps", "1", "--json"])
    assert code == 0
    (row,) = out["results"]
    fields = {"model", "manual_ms", "autodiff_ms", "ratio", "manual_compile_s",
              "autodiff_compile_s", "manual_temp_bytes", "autodiff_temp_bytes",
              "memory_ratio"}  # fmt: skip
    assert fields <= set(row)
    assert row["ratio"] == pytest.approx(row["autodiff_ms"] / row["manual_ms"])
    assert row["time_ratio_autodiff_over_manual"] == row["ratio"]
    assert row["memory_ratio_manual_over_autodiff"] == row["memory_ratio"]
    assert row["rounds"] == 2 and row["manual_ms_min"] <= row["manual_ms"] <= row["manual_ms_max"]
    assert row["autodiff_ms_q1"] <= row["autodiff_ms_q3"] and row["ratio_q1"] <= row["ratio_q3"]
    assert "autodiff_ms / manual_ms" in out["ratios"]["ratio"]
    assert len(out["machine"]["load_average_before"]) == 3
    assert row["manual_temp_bytes"] > 0 and row["autodiff_temp_bytes"] > 0
    assert out["machine"]["backend"] == "cpu"


def test_bench_unknown_name(capsys):
    from funcnet.bench import benchmark_names

    assert main(["bench", "resnet"]) == 2
    expected = f"expected benchmark names from {benchmark_names()}, got ['resnet']"
    assert expected in capsys.readouterr().err


def _final_checkpoint(directory):
    """The leaves and the history (less the timings) of the newest checkpoint in a directory."""
    import numpy as np

    from funcnet.train import checkpoint

    path = checkpoint.latest(directory)
    with np.load(path, allow_pickle=False) as npz:
        leaves = {k: npz[k] for k in npz.files if k != checkpoint.TREE_MEMBER}
    history = checkpoint.read_metadata(path)["history"]
    return leaves, [{k: v for k, v in row.items() if k != "seconds"} for row in history]


class KilledError(Exception):
    pass


def _run_until_first_checkpoint(monkeypatch, argv):
    """Run ``funcnet train`` and make it die right after writing its first checkpoint."""
    from funcnet.train import checkpoint

    save_step = checkpoint.save_step

    def save_then_die(directory, step, *args, **kwargs):
        save_step(directory, step, *args, **kwargs)
        raise KilledError

    monkeypatch.setattr(checkpoint, "save_step", save_then_die)
    with pytest.raises(KilledError):
        main(argv)
    monkeypatch.setattr(checkpoint, "save_step", save_step)


def _assert_same_final_checkpoints(a_dir, b_dir, epochs):
    (a, history_a), (b, history_b) = _final_checkpoint(a_dir), _final_checkpoint(b_dir)
    assert history_a == history_b and len(history_a) == epochs
    assert a.keys() == b.keys() and len(a) > 4
    for name in a:
        assert a[name].dtype == b[name].dtype and (a[name] == b[name]).all(), name


def test_train_resumes_from_a_checkpoint_bit_identically(capsys, monkeypatch, tmp_path):
    argv = ["train", "--dataset", "xor", "--json", "--no-progress"]
    whole_dir = ["--checkpoint-dir", str(tmp_path / "whole")]
    parts_dir = ["--checkpoint-dir", str(tmp_path / "parts")]
    _, whole = _json(capsys, [*argv, "--epochs", "3", *whole_dir])
    _run_until_first_checkpoint(monkeypatch, [*argv, "--epochs", "3", *parts_dir])
    capsys.readouterr()
    code, resumed = _json(capsys, [*argv, "--epochs", "3", *parts_dir, "--resume"])
    assert code == 0 and resumed["resumed_from_epoch"] == 1 and whole["resumed_from_epoch"] == 0
    assert resumed["test_loss"] == whole["test_loss"]
    _assert_same_final_checkpoints(tmp_path / "whole", tmp_path / "parts", epochs=3)

    # A finished run can be extended (on the schedule of the new --epochs).
    code, more = _json(capsys, [*argv, "--epochs", "4", *parts_dir, "--resume"])
    assert code == 0 and more["resumed_from_epoch"] == 3
    assert more["history"][:3] == resumed["history"] and len(more["history"]) == 4

    # Misuse is reported before any work: exit status 2 and a message.
    assert main([*argv, "--epochs", "3", *parts_dir]) == 2  # would mix two runs
    assert "expected a checkpoint_dir without checkpoints" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 2
    assert "argument --resume: expected --checkpoint-dir too" in capsys.readouterr().err


def test_train_resumes_mid_epoch_bit_identically(capsys, monkeypatch, tmp_path):
    # iris: 120 training examples in batches of 16, 7 steps per epoch; the first save is at
    # step 3, in the middle of epoch 1.
    argv = ["train", "--dataset", "iris", "--epochs", "2", "--json", "--no-progress",
            "--checkpoint-every-steps", "3"]  # fmt: skip
    _, whole = _json(capsys, [*argv, "--checkpoint-dir", str(tmp_path / "whole")])
    parts_dir = ["--checkpoint-dir", str(tmp_path / "parts")]
    _run_until_first_checkpoint(monkeypatch, [*argv, *parts_dir])
    capsys.readouterr()
    code, resumed = _json(capsys, [*argv, *parts_dir, "--resume"])
    assert code == 0 and resumed["resumed_from_step"] == 3 and resumed["resumed_from_epoch"] == 0
    assert resumed["test_loss"] == whole["test_loss"]
    _assert_same_final_checkpoints(tmp_path / "whole", tmp_path / "parts", epochs=2)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "iris", "--model", "cnn"], "expected a model in ['mlp'] for dataset 'iris'"),
        (["--epochs", "-1"], "argument --epochs: expected a positive integer, got '-1'"),
        (["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["--seed", "-3"], "argument --seed: expected a non-negative integer"),
        (["--optimizer", "sgd"], "argument --optimizer: invalid choice: 'sgd'"),
        (["--checkpoint-every", "0"], "argument --checkpoint-every: expected a positive integer"),
    ],
)
def test_train_rejects_bad_arguments_before_any_work(capsys, monkeypatch, argv, message):
    import funcnet.recipes

    def no_work(*args, **kwargs):
        raise AssertionError("funcnet train started work with a bad argument")

    monkeypatch.setattr(funcnet.recipes, "run", no_work)
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert "usage: funcnet train" in err and f"funcnet train: error: {message}" in err
    assert "Traceback" not in err


def test_bench_rejects_bad_arguments(capsys):
    assert main(["bench", "--rounds", "0"]) == 2
    assert "argument --rounds: expected a positive integer, got '0'" in capsys.readouterr().err
    assert main(["bench", "--steps", "x"]) == 2
    assert "argument --steps: expected a positive integer" in capsys.readouterr().err


def test_every_option_has_help():
    from funcnet.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"funcnet {name} {'/'.join(action.option_strings) or action.dest}"


def test_a_family_joins_funcnet_train_with_one_registration_each(capsys):
    from funcnet import recipe_registry as registry
    from funcnet.data import make_dataset
    from funcnet.layers.dense import dense
    from funcnet.losses import softmax_cross_entropy_with_integer_labels

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
    table = make_dataset(x, np.array([1, 1, 0, 0], np.int32))
    registry.register_dataset("toy_pairs", lambda: (table, table))
    registry.register_model("linear", lambda recipe, data, classes: dense(classes))
    registry.register_loss("toy_cross_entropy", softmax_cross_entropy_with_integer_labels)
    registry.register_recipe("toy_pairs", "linear", registry.Recipe(
        (), 0.1, epochs=2, batch_size=4, loss="toy_cross_entropy"))  # fmt: skip
    try:
        code, out = _json(capsys, ["train", "--dataset", "toy_pairs", "--model", "linear",
                                   "--json", "--no-progress"])  # fmt: skip
        assert code == 0 and out["epochs"] == 2 and out["parameter_count"] == 6
        assert main(["train", "--dataset", "iris", "--model", "linear"]) == 2
        assert "expected a model in ['mlp'] for dataset 'iris'" in capsys.readouterr().err
    finally:
        registry.RECIPES.pop(("toy_pairs", "linear"))
        registry.DATASETS.pop("toy_pairs")
        registry.MODELS.pop("linear")
        registry.LOSSES.pop("toy_cross_entropy")


def test_bench_text_says_which_way_each_ratio_runs_and_shows_the_spread(capsys):
    assert main(["bench", "dispatch", "--rounds", "3", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "time a/m" in out and "memory m/a" in out
    assert "autodiff ms / manual ms" in out and "manual / autodiff temporary bytes" in out
    assert "interquartile" in out and "–" in out  # medians with their (q1–q3) over rounds
    assert out.splitlines()[-2].startswith("machine: ") and "{" not in out.splitlines()[-2]


def test_bench_warns_when_the_machine_is_loaded():
    from funcnet.bench.report import load_warning

    info = {"cpu_count": 2, "load_average_before": [9.5, 3.0, 1.0], "load_average_after": None}
    assert "load average (9.50) exceeded the 2 CPUs" in load_warning(info)
    assert load_warning({**info, "load_average_before": [1.5, 1.0, 1.0]}) is None
