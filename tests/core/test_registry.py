"""The registry contract: every op has sample cases and passes the three-way check."""

import inspect

import jax.numpy as jnp
import pytest

import funcnet
from funcnet.core import registry
from funcnet.core.registry import Arg, Case
from funcnet.verify import Report, verify_case, verify_op, verify_registry

ALL_OPS = registry.op_names()


def test_every_declared_op_has_sample_cases():
    assert registry.missing_cases() == []


def test_every_op_has_a_hand_written_jvp():
    # forward mode (backward="manual_jvp") passes through every registered op
    assert [name for name in ALL_OPS if registry.cases(name)[0].op.jvp is None] == []


def test_registry_lists_every_family():
    expected = {
        "dense", "add", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu",
        "softplus", "softmax", "log_softmax", "mean_squared_error",
        "binary_cross_entropy_with_logits", "softmax_cross_entropy",
        "softmax_cross_entropy_with_integer_labels", "l2_penalty",
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
        "max_pool2d", "avg_pool1d", "avg_pool2d", "global_avg_pool", "global_max_pool",
        "flatten", "batch_norm", "batch_norm_eval", "layer_norm", "rms_norm", "group_norm",
        "dropout", "embedding", "rnn_cell", "lstm_cell", "gru_cell", "rnn", "lstm", "gru",
        "flip", "concat", "dot_product_attention", "dot_product_attention_lean",
        "split_heads", "merge_heads", "add_positions", "cast", "eigh", "svd", "matrix_log",
        "matrix_sqrt", "matrix_power", "newton_schulz_sqrt", "covariance", "upper_triangle",
        "decoupling_interface", "ste_sign", "approx_sign", "swish_sign", "ede_sign",
        "ste_heaviside", "ste_ternary", "dorefa", "magnitude_aware_sign",
        "lif", "rlif", "leaky_integrator", "event_lif", "first_spike_cross_entropy", "max_voltage",
        "spike_count", "first_spike_time",
    }  # fmt: skip
    assert expected == set(ALL_OPS)


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_passes_three_way_check_float64(name):
    # The forward-mode checks (JVP vs autodiff, vs finite differences, adjoint) run on the
    # first case: each compiles the JVP and its reference once more, ~3 s per case.
    report = verify_op(name, dtypes=(jnp.float64,), forward_mode_cases="first")
    report.raise_if_failed()
    summary = report.op_summary(name)
    assert summary["max_rel_err_autodiff"] <= 1e-10
    assert summary["max_rel_err_fd"] <= 1e-6
    checks = {e.check for c in report.cases for e in c.errors}
    expected = {"no_autodiff", "forward", "autodiff", "finite_differences", "jit", "vmap"}
    first = registry.cases(name)[0].op
    if first.jvp is not None:
        expected |= {"jvp_autodiff", "jvp_finite_differences", "adjoint"}
    if isinstance(first.finite_differences, str):  # said not to apply
        expected -= {"finite_differences", "jvp_finite_differences"}
    assert expected <= checks
    guarded = {c.case for c in report.cases for e in c.errors if e.check == "no_autodiff"}
    assert guarded == {c.label for c in registry.cases(name)}  # every case's backward traced


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_passes_three_way_check_float32(name):
    # Every case runs in float64 above; in float32 the first case of each op shows the op
    # and the verifier's float32 tolerances work together. Every case passes in float32 too
    # (`funcnet check --dtype float32`), but costs 191 s more CI wall (+277 s CPU).
    report = Report((verify_case(registry.cases(name)[0], jnp.float32),)).raise_if_failed()
    assert report.cases[0].dtype == "float32"


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_passes_three_way_check_bfloat16(name):
    # The first case of each op in bfloat16 (float64 oracle, derived tolerances): a false alarm
    # or a backward that breaks in low precision shows here (the full sweep over every case,
    # dtype and five seeds is `funcnet check --seeds 5`, recorded in docs/mixed_precision.md).
    case = registry.cases(name)[0]
    report = Report((verify_case(case, jnp.bfloat16),)).raise_if_failed()
    assert report.cases[0].dtype == "bfloat16"


def test_a_factory_without_cases_fails_the_contract():
    @registry.op_factory("planted_without_cases")
    def planted_without_cases_op():
        return funcnet.layers.dense_op()

    try:
        assert registry.missing_cases() == ["planted_without_cases"]
        report = verify_registry(["planted_without_cases"])
        assert not report.passed
        assert "no sample cases" in report.cases[0].crash
    finally:
        registry._unregister("planted_without_cases")
    assert registry.missing_cases() == []


def test_a_case_must_build_the_op_it_is_registered_under():
    registry.add_cases(
        "planted_mislabelled", lambda: [Case("c", funcnet.layers.dense_op(), (Arg((2, 2)),))]
    )
    try:
        with pytest.raises(ValueError, match="planted_mislabelled"):
            registry.cases("planted_mislabelled")
    finally:
        registry._unregister("planted_mislabelled")


def test_unknown_op_name_is_a_clear_error():
    with pytest.raises(KeyError, match="no op named 'nope'"):
        registry.cases("nope")


def test_second_order_is_declared_somewhere_for_each_smooth_family():
    declared = {name for name in ALL_OPS if any(c.second_order for c in registry.cases(name))}
    assert {"dense", "sigmoid", "tanh", "softmax", "log_softmax"} <= declared


@pytest.mark.parametrize("name", ALL_OPS)
def test_hand_written_backward_opens_with_its_vjp(name):
    # That the backward calls no autodiff is checked at run time, by the verifier's no_autodiff
    # guard (tests/verify/test_autodiff_guard.py), in every case of the float64 check above.
    for case in registry.cases(name):
        source = inspect.getsource(case.op.bwd)
        assert "# d" in source, f"{name}: bwd should open with its VJP in matrix form"
