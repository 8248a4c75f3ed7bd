"""The synthetic-gradient predictor ``M(h[, y])`` of a decoupling interface.

A small MLP from a module's activation ``h`` (and, label-conditioned as in cDNI, the example's
class ``y``) to a prediction of the loss gradient at ``h``. Its last layer starts at zero, as in
Jaderberg et al. (2017): the first synthetic gradients are zero, so the modules below do not
move until the predictor has learnt something. The label enters the first layer as a learned
row per class added to ``W h + b`` (the same as a dense layer over ``[h, onehot(y)]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_axis_size,
    check_float_dtype,
    check_input_shape,
    check_int,
    check_shape_rank,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import check_backward
from funcnet.core.registry import Arg
from funcnet.initializers import zeros
from funcnet.layers.activations import relu
from funcnet.layers.add import add_op
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense
from funcnet.layers.embedding import embedding

NAME = "gradient_predictor"


class PredictorParams(NamedTuple):
    first: Any  # the dense layer on h
    label_rows: Any  # the per-class rows added to it (None without labels)
    rest: Any  # activation, hidden dense layers, the zero-initialised output layer


@layer_factory(NAME)
def gradient_predictor(
    features: int,
    *,
    hidden_features: Sequence[int] = (),
    num_classes: int | None = None,
    dtype: jnp.dtype = jnp.float32,
) -> Layer:
    """A synthetic-gradient predictor for an activation of ``features`` features.

    Args:
      features: the width of the activation ``h`` (and of the predicted gradient).
      hidden_features: widths of the hidden ReLU layers (``()``: a linear predictor).
      num_classes: condition on the label (cDNI): ``apply`` then takes ``(h, labels)``.
      dtype: the parameters' dtype.

    Shapes:
      x: ``h [..., features]``, or ``(h, labels [...] int)`` when conditioned
      -> ``ĝ [..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> m = gradient_predictor(3, num_classes=10)
      >>> _, params, state = m.init(jax.random.key(0), (2, 3))
      >>> g_hat, _ = m.apply(params, state, (jnp.ones((2, 3)), jnp.array([1, 7])))
      >>> g_hat.tolist()  # the output layer starts at zero
      [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    check_int(NAME, "features", features)
    widths = tuple(check_int(NAME, "hidden_features", w) for w in hidden_features)
    if num_classes is not None:
        check_int(NAME, "num_classes", num_classes)
    check_float_dtype(NAME, dtype)
    conditioned = num_classes is not None
    first_width = widths[0] if widths else features
    first_init = None if widths else zeros  # a linear predictor is all output layer
    first = dense(first_width, w_init=first_init, dtype=dtype)
    label_rows = (
        embedding(num_classes, first_width, table_init=first_init, dtype=dtype)
        if conditioned
        else None
    )
    tail = [layer for w in widths[1:] for layer in (relu(), dense(w, dtype=dtype))]
    rest = serial(relu(), *tail, dense(features, w_init=zeros, dtype=dtype)) if widths else None
    add = add_op()

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, PredictorParams, tuple]:
        shape = check_input_shape(NAME, input_shape)
        check_shape_rank(NAME, shape, 1, "activation")
        check_axis_size(NAME, shape, -1, features)
        k1, k2, k3 = jax.random.split(key, 3)
        _, p_first, _ = first.init(k1, shape)
        p_rows = label_rows.init(k2, shape[:-1])[1] if conditioned else None
        p_rest = rest.init(k3, (*shape[:-1], first_width))[1] if rest else None
        return shape, PredictorParams(p_first, p_rows, p_rest), ()

    def apply(params: PredictorParams, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, NAME)
        h, labels = split_input(x, conditioned)
        check_shape_rank(NAME, jnp.shape(h), 1, "activation")
        check_axis_size(NAME, jnp.shape(h), -1, features)
        g, _ = first.apply(params.first, (), h, backward=backward)
        if conditioned:
            rows, _ = label_rows.apply(params.label_rows, (), labels, backward=backward)
            g = add(g, rows, backward=backward)
        if rest is not None:
            g, _ = rest.apply(params.rest, rest_state(len(widths)), g, backward=backward)
        return g, state

    return Layer(NAME, init, apply)


def rest_state(num_hidden: int) -> tuple:
    return ((),) * (2 * num_hidden)  # relu and dense per hidden layer after the first, + output


def split_input(x: Any, conditioned: bool) -> tuple[Any, Any]:
    """``(h, labels)`` of a conditioned predictor's input, ``(h, None)`` otherwise; a ValueError
    (naming the decoupling interface) when the labels are missing or unexpected."""
    if conditioned:
        if not (isinstance(x, tuple) and len(x) == 2):
            raise ValueError(
                "decoupling interface (gradient_predictor): expected (h, labels) for a "
                f"label-conditioned predictor (cDNI), got {type(x).__name__} without labels."
            )
        h, labels = x
        if jnp.shape(labels) != jnp.shape(h)[:-1]:
            raise ValueError(
                f"decoupling interface (gradient_predictor): expected labels of shape "
                f"{jnp.shape(h)[:-1]}, got {jnp.shape(labels)}."
            )
        return h, labels
    if isinstance(x, tuple):
        raise ValueError(
            "decoupling interface (gradient_predictor): expected the activation h alone for a "
            f"predictor without labels (num_classes=None), got a tuple of {len(x)}."
        )
    return x, None


add_layer_cases(
    NAME,
    lambda: [
        LayerCase(
            "conditioned",
            gradient_predictor(4, num_classes=3),
            Arg((2, 4)),
            make_input=lambda h: (h, jnp.zeros(jnp.shape(h)[:-1], jnp.int32)),
        )
    ],
)
