"""A decoupled network: modules joined by decoupling interfaces, each with its own predictor.

``modules[k]`` maps ``h_{k-1}`` to ``h_k``; after every module but the last sits a decoupling
interface whose synthetic gradient comes from ``predictors[k]``. The *objective*

    O = mean_b [ loss_b + Σ_k z_k,b ]        (z: each interface's synthetic loss, valued 0)

has the task loss's value, and one ``jax.grad`` of it gives every DNI update at once: each
module's parameters move along its own synthetic gradient (mixed BP(λ) with the true one), each
predictor's along the regression of its prediction onto the gradient arriving from above (the
true gradient below the last module, the bootstrapped one elsewhere). With ``bp_lambda = 1``
the module gradients are exactly backprop's. The predictors read ``stop_gradient(h)``: their
training moves no module. :mod:`funcnet.dni.unlocked` runs the same updates module by module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.layer import Layer, check_int
from funcnet.core.op import Backward, Op
from funcnet.dni.interface import check_bp_lambda, decoupling_interface_op
from funcnet.dni.predictor import gradient_predictor
from funcnet.layers.activations import relu
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense
from funcnet.losses import softmax_cross_entropy_with_integer_labels


class DecoupledModel(NamedTuple):
    """The parts of a decoupled network (see the module docstring)."""

    modules: tuple[Layer, ...]
    predictors: tuple[Layer, ...]  # one per interface: len(modules) - 1
    interface: Op  # decoupling_interface_op(bp_lambda)
    bp_lambda: float
    conditioned: bool  # the predictors see the labels (cDNI)
    loss: Op  # (logits, labels) -> mean loss


class DecoupledParams(NamedTuple):
    modules: tuple[Any, ...]
    predictors: tuple[Any, ...]


def decoupled_mlp(
    hidden_features: Sequence[int],
    num_classes: int,
    *,
    conditioned: bool = False,
    bp_lambda: float = 0.0,
    predictor_hidden_features: Sequence[int] = (),
    activation: Any = relu,
) -> DecoupledModel:
    """An MLP classifier with a decoupling interface after every hidden layer.

    Args:
      hidden_features: the hidden layers' widths; module ``k`` is ``dense`` then ``activation``.
      num_classes: the output module's width (a dense layer giving logits).
      conditioned: cDNI, predictors conditioned on the label.
      bp_lambda: BP(λ)'s weight of the true gradient (0: DNI, 1: backprop).
      predictor_hidden_features: each predictor's hidden widths (``()``: linear).
      activation: the hidden layers' activation factory.

    Shapes:
      x: ``[B, n_in]``, labels: ``[B]`` int -> logits ``[B, num_classes]``.

    Examples:
      >>> model = decoupled_mlp((8, 8), 3, conditioned=True)
      >>> len(model.modules), len(model.predictors), model.interface.gradient[:23]
      (3, 2, 'surrogate: synthetic gr')
    """
    widths = [check_int("decoupled_mlp", "hidden_features", w) for w in hidden_features]
    check_int("decoupled_mlp", "num_classes", num_classes)
    lam = check_bp_lambda("decoupled_mlp", bp_lambda)
    modules = (*(serial(dense(w), activation()) for w in widths), dense(num_classes))
    labels = num_classes if conditioned else None
    predictors = tuple(
        gradient_predictor(w, hidden_features=predictor_hidden_features, num_classes=labels)
        for w in widths
    )
    loss = softmax_cross_entropy_with_integer_labels()
    interface = decoupling_interface_op(lam)
    return DecoupledModel(modules, predictors, interface, lam, conditioned, loss)


def init_decoupled(model: DecoupledModel, key: jax.Array, input_shape: Any) -> DecoupledParams:
    """Every module's and every predictor's parameters (the layers used here have no state)."""
    shape, modules, predictors = tuple(input_shape), [], []
    for k, module in enumerate(model.modules):
        key, k_module, k_predictor = jax.random.split(key, 3)
        shape, p, _ = module.init(k_module, shape)
        modules.append(p)
        if k < len(model.predictors):
            predictors.append(model.predictors[k].init(k_predictor, shape)[1])
    return DecoupledParams(tuple(modules), tuple(predictors))


def predict_gradient(
    model: DecoupledModel, k: int, params: Any, h: jax.Array, labels: Any, backward: Backward
) -> jax.Array:
    """``ĝ_k = M_k(h[, labels])`` on ``stop_gradient(h)``: training a predictor moves no module."""
    x = lax.stop_gradient(h)
    if model.conditioned:
        x = (x, labels)
    return model.predictors[k].apply(params, (), x, backward=backward)[0]


def apply_module(model, k, params, x, backward="manual"):
    """``h_k = modules[k](x)``."""
    return model.modules[k].apply(params, module_state(model, k), x, backward=backward)[0]


def module_state(model: DecoupledModel, k: int) -> Any:
    return ((), ()) if k < len(model.predictors) else ()


def decoupled_objective(
    model: DecoupledModel,
    params: DecoupledParams,
    x: jax.Array,
    labels: jax.Array,
    *,
    backward: Backward = "manual",
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """``(O, (loss, logits))``: ``jax.grad`` of ``O`` is every module's and predictor's update."""
    h, synthetic = x, 0.0
    for k in range(len(model.modules)):
        h = apply_module(model, k, params.modules[k], h, backward)
        if k < len(model.predictors):
            g_hat = predict_gradient(model, k, params.predictors[k], h, labels, backward)
            h, z = model.interface(h, g_hat, backward=backward)
            synthetic = synthetic + jnp.mean(z)
    loss = model.loss(h, labels, backward=backward)
    return loss + synthetic, (loss, h)
