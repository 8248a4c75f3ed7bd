"""Forward mode through every model `funcnet train` knows, and the transformer LM, on the
manual_jvp path: jax.jvp, jax.linearize, jax.jacfwd and jax.hessian equal autodiff's (float64,
a tiny instance each)."""

import functools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import funcnet.recipes  # noqa: F401  (registers every model)
from funcnet.data.dataset import Dataset
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import transformer_lm
from funcnet.recipe_registry import DATASETS, LOSSES, MODELS, RECIPES

# synthetic inputs in [0, 1] per dataset: (flat features, structured example shape)
INPUTS = {"digits": ((64,), (8, 8, 1)), "mnist1d": ((40,), (40, 1)), "yin_yang": ((4,), None)}
WIDTH = {"eventprop": 8}  # hidden width (3 by default): EventProp's outputs need 8 to fire


def _first_recipe(model_name):
    (dataset, recipe), *_ = [(d, r) for (d, m), r in RECIPES.items() if m == model_name]
    return dataset, recipe._replace(
        hidden_features=(WIDTH.get(model_name, 3),) * len(recipe.hidden_features),
        channels=(2,) * len(recipe.channels),
    )


def _recipe_model(model_name):
    """``(model, loss, x, t)``: a tiny instance of a model `funcnet train` knows."""
    spec = MODELS[model_name]
    dataset, recipe = _first_recipe(model_name)
    flat, structured = INPUTS[dataset]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, (2, *(structured if spec.structured else flat)))
    t = np.array([0, 1], np.int32)
    if spec.encode is not None:
        x = spec.encode(recipe, Dataset(x.astype(np.float32), t)).x
    model = spec.build(recipe, DATASETS[dataset], 3)
    return model, LOSSES[recipe.loss](), jnp.asarray(x, jnp.float64), t


def _transformer_lm():
    ids = np.random.default_rng(0).integers(0, 7, (2, 4)).astype(np.int32)
    model = transformer_lm(7, context=4, features=4, num_heads=2, num_blocks=1)
    return model, softmax_cross_entropy_with_integer_labels(), jnp.asarray(ids), (ids + 1) % 7


MODEL_NAMES = [*sorted(MODELS), "transformer_lm"]


def _instance(model_name):
    """``(loss(params, x, backward), params, x)`` for a tiny float64 instance of the model."""
    make = _transformer_lm if model_name == "transformer_lm" else partial(_recipe_model, model_name)
    model, loss, x, t = make()
    _, params, state = model.init(jax.random.key(0), x.shape)
    params, state = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), (params, state))

    def fn(params, x, backward):
        y, _ = model.apply(params, state, x, backward=backward)
        return loss(y, t, backward=backward)

    return fn, params, x


@pytest.mark.parametrize("model_name", MODEL_NAMES)
def test_forward_mode_through_the_model_equals_autodiff(model_name):
    with jax.enable_x64(True):
        fn, params, x = _instance(model_name)
        v = jax.tree.map(lambda p: jnp.asarray(np.random.default_rng(1).normal(size=p.shape)),
                         params)  # fmt: skip

        @functools.partial(jax.jit, static_argnums=0)  # one compile per path
        def transforms(backward):
            f = lambda p, x: fn(p, x, backward)  # noqa: E731
            out = {
                "jvp": jax.jvp(lambda p: f(p, x), (params,), (v,)),
                "linearize": jax.linearize(lambda p: f(p, x), params)[1](v),
                "jacfwd": jax.jacfwd(f)(params, x),
            }
            first, *rest = jax.tree.leaves(params)  # the Hessian of the first parameter leaf
            out["hessian"] = jax.hessian(
                lambda w: f(jax.tree.unflatten(jax.tree.structure(params), [w, *rest]), x)
            )(first)
            return out

        manual, reference = transforms("manual_jvp"), transforms("autodiff")
        assert float(jnp.abs(manual["jvp"][1])) > 1e-6  # the instance has a gradient to check
        for name in manual:
            for a, b in zip(jax.tree.leaves(manual[name]), jax.tree.leaves(reference[name]),
                            strict=True):  # fmt: skip
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)
