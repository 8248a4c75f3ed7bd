"""Combinators: layers built from layers (``serial``, ``parallel``, ``residual``).

Their params and state are tuples holding each child's, in order, so a parameter's path reads
``[1].w`` (the ``w`` of the second child). A key given to a combinator is split among the
children; ``train`` and ``backward`` are passed to every child unchanged.
"""

from __future__ import annotations

from typing import Any

import jax

from funcnet.core.layer import Layer, Shape, check_input_shape
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import check_backward
from funcnet.core.registry import Arg
from funcnet.layers.add import add_op


def _split(key: jax.Array | None, n: int) -> list[jax.Array | None]:
    return [None] * n if key is None else list(jax.random.split(key, n))


def _check_layers(name: str, layers: tuple[Any, ...]) -> None:
    if not layers:
        raise ValueError(f"{name}: expected at least one layer, got none.")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"{name}: expected a Layer at position {i}, got {type(layer)}.")


def _check_children(name: str, what: str, value: Any, n: int) -> None:
    """At trace time: ``value`` (params or state) holds one entry per child, as init made it."""
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise TypeError(
            f"{name}: expected {what} to be a tuple of {n} entries, one per layer (the structure "
            f"{name}'s init returns), got {jax.tree.structure(value)}."
        )


@layer_factory("serial")
def serial(*layers: Layer) -> Layer:
    """Compose layers left to right: ``serial(f, g)(x) = g(f(x))``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from funcnet.layers import dense
      >>> mlp = serial(dense(8), dense(2))
      >>> out_shape, params, state = mlp.init(jax.random.key(0), (5, 3))
      >>> out_shape, params[1].w.shape
      ((5, 2), (8, 2))
    """
    _check_layers("serial", layers)

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        shape = check_input_shape("serial", input_shape)
        params, states = [], []
        for layer, k in zip(layers, jax.random.split(key, len(layers)), strict=True):
            shape, p, s = layer.init(k, shape)
            params.append(p)
            states.append(s)
        return shape, tuple(params), tuple(states)

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        check_backward(backward, "serial")
        _check_children("serial", "params", params, len(layers))
        _check_children("serial", "state", state, len(layers))
        new_states = []
        for layer, p, s, k in zip(layers, params, state, _split(key, len(layers)), strict=True):
            x, s = layer.apply(p, s, x, key=k, train=train, backward=backward)
            new_states.append(s)
        return x, tuple(new_states)

    return Layer("serial", init, apply)


@layer_factory("parallel")
def parallel(*layers: Layer) -> Layer:
    """Apply the i-th layer to the i-th element of a tuple input; the output is a tuple."""
    _check_layers("parallel", layers)

    def init(key: jax.Array, input_shape: tuple[Shape, ...]) -> tuple[tuple, tuple, tuple]:
        message = f"parallel: expected a tuple of {len(layers)} input shapes, got {input_shape!r}."
        if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, (tuple, list)) for s in input_shape
        ):
            raise TypeError(message)
        if len(input_shape) != len(layers):
            raise ValueError(message)
        keys = jax.random.split(key, len(layers))
        out = [layer.init(k, s) for layer, k, s in zip(layers, keys, input_shape, strict=True)]
        return tuple(o[0] for o in out), tuple(o[1] for o in out), tuple(o[2] for o in out)

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        check_backward(backward, "parallel")
        _check_children("parallel", "params", params, len(layers))
        _check_children("parallel", "state", state, len(layers))
        if not isinstance(x, (tuple, list)):
            raise TypeError(f"parallel: expected a tuple of {len(layers)} inputs, got {type(x)}.")
        if len(x) != len(layers):
            raise ValueError(f"parallel: expected a tuple of {len(layers)} inputs, got {len(x)}.")
        keys = _split(key, len(layers))
        out = [
            layer.apply(p, s, xi, key=k, train=train, backward=backward)
            for layer, p, s, xi, k in zip(layers, params, state, x, keys, strict=True)
        ]
        return tuple(o[0] for o in out), tuple(o[1] for o in out)

    return Layer("parallel", init, apply)


@layer_factory("residual")
def residual(*layers: Layer) -> Layer:
    """``y = x + f(x)`` with ``f = serial(*layers)``, which must preserve the input's shape."""
    body = serial(*layers)
    add = add_op()

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        shape = check_input_shape("residual", input_shape)
        out_shape, params, state = body.init(key, shape)
        if tuple(out_shape) != shape:
            raise ValueError(
                f"residual: expected the branch to keep the input shape {shape}, "
                f"got output shape {tuple(out_shape)}."
            )
        return shape, params, state

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        fx, state = body.apply(params, state, x, key=key, train=train, backward=backward)
        return add(x, fx, backward=backward), state

    return Layer("residual", init, apply)


def _cases() -> dict[str, list[LayerCase]]:
    # Only the sample configurations need concrete layers; the combinators themselves do not.
    from funcnet.layers.activations import relu, tanh
    from funcnet.layers.dense import dense
    from funcnet.layers.norm import layer_norm

    pair = (Arg((2, 3)), Arg((2, 4)))
    return {
        "serial": [LayerCase("dense_relu", serial(dense(3), relu()), Arg((2, 4)))],
        "parallel": [LayerCase("dense_and_norm", parallel(dense(2), layer_norm()), pair)],
        "residual": [LayerCase("dense_tanh", residual(dense(4), tanh()), Arg((2, 4)))],
    }


for _name in ("serial", "parallel", "residual"):
    add_layer_cases(_name, lambda name=_name: _cases()[name])
