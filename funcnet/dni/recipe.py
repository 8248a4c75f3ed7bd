"""``funcnet train --model dni`` and ``--model cdni``: an MLP with a decoupling interface after
every hidden layer (cDNI: label-conditioned predictors), trained on its one-grad objective.

Registered by :mod:`funcnet.recipes` (:func:`register_decoupled_recipes`) once its datasets
are. The gradient check compares the
manual gradient of the objective with JAX autodiff of its gradient reference, in float64; finite
differences do not apply (a synthetic gradient is the derivative of no function).
"""

from __future__ import annotations

import math
import time
from typing import Any

import jax
import jax.numpy as jnp

from funcnet.data.dataset import Dataset
from funcnet.dni.fit import fit_decoupled
from funcnet.dni.interface import NO_FINITE_DIFFERENCES, decoupling_interface_op
from funcnet.dni.model import DecoupledModel, decoupled_mlp, decoupled_objective, init_decoupled
from funcnet.models import mlp
from funcnet.recipe_registry import Recipe, register_model, register_recipe
from funcnet.recipe_result import train_result
from funcnet.verify.report import CaseReport, LeafError

GRAD_CHECK_EXAMPLES = 16
# manual vs autodiff of the gradient reference in float64 must stay below 1e-8 (a LeafError
# passes at ≤ its tolerance)
GRAD_CHECK_TOLERANCE = math.nextafter(1e-8, 0.0)


def build_decoupled(recipe: Recipe, num_classes: int) -> DecoupledModel:
    options = dict(recipe.options or {})
    return decoupled_mlp(
        recipe.hidden_features,
        num_classes,
        conditioned=options.get("conditioned", False),
        bp_lambda=options.get("bp_lambda", 0.0),
        predictor_hidden_features=options.get("predictor_hidden_features", ()),
    )


def max_rel_err_vs_reference(model: DecoupledModel, params: Any, x: Any, labels: Any) -> float:
    """Largest per-leaf ``‖manual − autodiff‖ / ‖autodiff‖`` of the objective's gradient, in
    float64 (autodiff of the gradient reference of each op)."""
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        x64 = jnp.asarray(x, jnp.float64)

        def grad(backward):
            fn = lambda p: decoupled_objective(model, p, x64, labels, backward=backward)[0]  # noqa: E731
            return jax.tree.leaves(jax.jit(jax.grad(fn))(p64))

        errors = [
            float(jnp.linalg.norm(m - a) / jnp.maximum(jnp.linalg.norm(a), 1e-300))
            for m, a in zip(grad("manual"), grad("autodiff"), strict=True)
        ]
    return max(errors)


def train_decoupled(
    recipe: Recipe,
    train: Dataset,
    test: Dataset,
    *,
    optimizer: Any,
    epochs: int,
    seed: int,
    backward: Any,
    progress: bool,
    log: Any,
    dataset: str,
    model_name: str,
) -> dict[str, Any]:
    """Check the gradients, train, and return ``funcnet train``'s result fields."""
    num_classes = int(max(train.y.max(), test.y.max())) + 1
    model = build_decoupled(recipe, num_classes)
    batch_size = min(recipe.batch_size, len(train))
    steps = len(train) // batch_size
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    shape = (batch_size, *train.x.shape[1:])
    params = jax.jit(lambda key: init_decoupled(model, key, shape))(init_key)  # one compile
    sample = train.x[:GRAD_CHECK_EXAMPLES], train.y[:GRAD_CHECK_EXAMPLES]
    rel_err = max_rel_err_vs_reference(model, params, *sample)
    if log is not None:
        log(f"{model_name}/{dataset}: manual vs autodiff (gradient reference) max rel err "
            f"{rel_err:.2e}; finite differences: n/a ({NO_FINITE_DIFFERENCES}).")  # fmt: skip
    start = time.perf_counter()
    params, history = fit_decoupled(
        model, params, optimizer.make(recipe, epochs, steps), train, key=fit_key, epochs=epochs,
        batch_size=batch_size, eval_data=test, backward=backward, progress=progress,
    )  # fmt: skip
    # the check as a verifier case, so the result has every model's gradient-check fields
    check = CaseReport(
        f"{model_name}/{dataset}", "sample", "float64",
        (LeafError("autodiff", "params", rel_err, rel_err, (), GRAD_CHECK_TOLERANCE),),
        gradient=decoupling_interface_op(model.bp_lambda).gradient,
        notes=(f"finite differences do not apply: {NO_FINITE_DIFFERENCES}",),
    )  # fmt: skip
    result = train_result(
        dataset=dataset, model=model_name, optimizer=optimizer.name, backward=backward,
        epochs=epochs, seed=seed, data=(train, test), history=history,
        train_seconds=time.perf_counter() - start, params=params, check=check,
    )  # fmt: skip
    return {**result, "bp_lambda": model.bp_lambda, "conditioned": model.conditioned}


def register_decoupled_recipes() -> None:
    """Offer ``dni`` and ``cdni`` on the digits (called by :mod:`funcnet.recipes`, once the
    datasets are registered)."""
    for name, conditioned in (("dni", False), ("cdni", True)):

        def train(recipe, train, test, name=name, **kwargs):
            return train_decoupled(recipe, train, test, model_name=name, **kwargs)

        register_model(name, lambda r, d, n: mlp(r.hidden_features, n), train=train)
        options = {"conditioned": conditioned, "bp_lambda": 0.0, "predictor_hidden_features": ()}
        recipe = Recipe((256, 256, 256), 1e-3, epochs=40, batch_size=32, options=options)
        register_recipe("digits", name, recipe)
