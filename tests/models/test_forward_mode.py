"""Forward mode through every model `funcnet train` knows, on the manual_jvp path: jax.jvp,
jax.linearize, jax.jacfwd and jax.hessian equal autodiff's (float64, a tiny instance each)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import funcnet.recipes  # noqa: F401  (registers every model)
from funcnet.data.dataset import Dataset
from funcnet.recipe_registry import LOSSES, MODELS, RECIPES

# synthetic inputs in [0, 1] per dataset: (flat features, structured example shape)
INPUTS = {"digits": ((64,), (8, 8, 1)), "mnist1d": ((40,), (40, 1)), "yin_yang": ((4,), None)}
# what jax.hessian cannot pass through, and why (see docs/forward_mode.md)
NO_HESSIAN: dict[str, str] = {}


def _first_recipe(model_name):
    (dataset, recipe), *_ = [(d, r) for (d, m), r in RECIPES.items() if m == model_name]
    return dataset, recipe._replace(
        hidden_features=(3,) * len(recipe.hidden_features),
        channels=(2,) * len(recipe.channels),
    )


def _instance(model_name):
    """``(loss(params, x, backward), params, x)`` for a tiny float64 instance of the model."""
    spec = MODELS[model_name]
    dataset, recipe = _first_recipe(model_name)
    flat, structured = INPUTS[dataset]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, (2, *(structured if spec.structured else flat)))
    t = np.array([0, 1], np.int32)
    if spec.encode is not None:
        x = spec.encode(recipe, Dataset(x.astype(np.float32), t)).x
    model = spec.build(recipe, None, 3)
    loss = LOSSES[recipe.loss]()
    x = jnp.asarray(x, jnp.float64)
    _, params, state = model.init(jax.random.key(0), x.shape)
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)

    def fn(params, x, backward):
        y, _ = model.apply(params, state, x, backward=backward)
        return loss(y, t, backward=backward)

    return fn, params, x


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_forward_mode_through_the_model_equals_autodiff(model_name):
    with jax.enable_x64(True):
        fn, params, x = _instance(model_name)
        v = jax.tree.map(lambda p: jnp.asarray(np.random.default_rng(1).normal(size=p.shape)),
                         params)  # fmt: skip

        def transforms(backward):
            f = lambda p, x: fn(p, x, backward)  # noqa: E731
            out = {
                "jvp": jax.jvp(lambda p: f(p, x), (params,), (v,)),
                "linearize": jax.linearize(lambda p: f(p, x), params)[1](v),
                "jacfwd": jax.jacfwd(f)(params, x),
            }
            if model_name not in NO_HESSIAN:
                first = jax.tree.leaves(params)[0]  # the Hessian of the first parameter leaf
                out["hessian"] = jax.hessian(
                    lambda w: f(jax.tree.unflatten(jax.tree.structure(params),
                                                   [w, *jax.tree.leaves(params)[1:]]), x)
                )(first)  # fmt: skip
            return out

        manual, reference = transforms("manual_jvp"), transforms("autodiff")
        for name in manual:
            for a, b in zip(jax.tree.leaves(manual[name]), jax.tree.leaves(reference[name]),
                            strict=True):  # fmt: skip
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)
