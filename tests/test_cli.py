"""The command line: JSON contracts and exit codes."""

import json

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
    assert row["manual_temp_bytes"] > 0 and row["autodiff_temp_bytes"] > 0
    assert out["machine"]["backend"] == "cpu"


def test_bench_unknown_name(capsys):
    assert main(["bench", "resnet"]) == 2
    assert "expected benchmark names from ['cnn', 'mlp'], got ['resnet']" in capsys.readouterr().err
