"""The layer registry and the layer contract: every registered layer configuration passes the
checks of tests/core/layer_contract.py; a factory without configurations, an undeclared
public factory and planted faulty layers fail."""

import inspect

import jax.numpy as jnp
import pytest

import funcnet.layers
import funcnet.models
from funcnet.core import layer_registry
from funcnet.core.layer import Layer, check_floating, check_input_shape, check_shape_rank
from funcnet.core.layer_registry import LayerCase, layer_factory
from funcnet.core.registry import Arg
from tests.core.layer_contract import check_layer

CASES = [(n, c) for n in layer_registry.layer_names() for c in layer_registry.layer_cases(n)]


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}-{c.label}" for n, c in CASES])
def test_layer_contract(name, case):
    assert isinstance(case, LayerCase) and isinstance(case.layer, Layer)
    check_layer(case)


def test_every_declared_layer_has_configurations():
    assert layer_registry.missing_layer_cases() == []


# Builders whose layers are registered under other names: every recurrent layer is a
# sequence_layer of its cell; gru_classifier and lstm_classifier are recurrent_classifiers.
BUILDERS = {"sequence_layer", "recurrent_classifier"}


def test_every_public_layer_factory_is_declared():
    undeclared = [
        name
        for module in (funcnet.layers, funcnet.models)
        for name in module.__all__
        if inspect.isfunction(factory := getattr(module, name))
        and inspect.signature(factory).return_annotation in ("Layer", Layer)
        and name not in {*layer_registry.layer_names(), *BUILDERS}
    ]
    assert undeclared == []


def test_a_factory_without_configurations_fails_the_contract():
    @layer_factory("planted_without_cases")
    def planted_without_cases():
        return funcnet.layers.relu()

    try:
        assert layer_registry.missing_layer_cases() == ["planted_without_cases"]
    finally:
        layer_registry._unregister_layer("planted_without_cases")
    assert layer_registry.missing_layer_cases() == []


def planted_layer(name, fn, out_features=None):
    """A parameter-free layer ``y = fn(x)`` that checks its input as a layer should."""

    def init(key, input_shape):
        shape = check_input_shape(name, input_shape)
        check_shape_rank(name, shape, 1)
        return (*shape[:-1], out_features or shape[-1]), (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        check_shape_rank(name, jnp.shape(x), 1)
        check_floating(name, x)
        return fn(x), state

    return Layer(name, init, apply)


def test_a_layer_that_takes_axis_0_for_the_batch_fails_the_contract():
    # group_norm's bug: the statistics over axis 0 change meaning under vmap
    layer = planted_layer("centre_over_axis_0", lambda x: x - jnp.mean(x, 0, keepdims=True))
    with pytest.raises(AssertionError, match="vmap over an added axis vs the call on the stack"):
        check_layer(LayerCase("planted", layer, Arg((3, 4))))


def test_a_layer_whose_init_and_apply_disagree_fails_the_contract():
    layer = planted_layer("wrong_output_shape", jnp.tanh, out_features=5)
    with pytest.raises(AssertionError, match="shape"):
        check_layer(LayerCase("planted", layer, Arg((3, 4))))
