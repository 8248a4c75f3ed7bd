"""The README's "Writing an op", "Writing a layer" and forward-mode snippets run as printed."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.core import layer_registry, registry
from tests.core.layer_contract import check_layer

README = (Path(__file__).parents[1] / "README.md").read_text()


def _snippet(heading: str) -> str:
    section = README.split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_writing_an_op_and_a_layer_snippets_run():
    namespace: dict = {}
    try:
        exec(_snippet("Writing an op"), namespace)
        exec(_snippet("Writing a layer"), namespace)
        assert {"cube", "scaled_dense"} <= set(layer_registry.layer_names())
        x = jnp.array([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]])
        y, _ = namespace["cube"]().apply((), (), x)
        np.testing.assert_allclose(y, x**3)
        layer = namespace["scaled_dense"](2)
        shape, params, state = layer.init(jax.random.key(0), x.shape)
        assert shape == (2, 2)

        def grads(backward):
            return jax.grad(lambda p: jnp.sum(layer.apply(p, state, x, backward=backward)[0]))(
                params
            )

        manual, autodiff = grads("manual"), grads("autodiff")
        for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(autodiff), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        for name in ("cube", "scaled_dense"):  # the README says the layer contract checks them
            for case in layer_registry.layer_cases(name):
                check_layer(case)
    finally:
        registry._unregister("cube")
        layer_registry._unregister_layer("cube")
        layer_registry._unregister_layer("scaled_dense")


def test_forward_mode_usage_snippet_runs():
    # the Usage section's forward-mode block, on the README's model and a batch of the digits
    import funcnet as fn

    block = re.search(r"```python\n(f = lambda p.*?)```", README, re.S).group(1)
    model = fn.serial(fn.dense(256), fn.relu(), fn.dense(10))
    train, _ = fn.data.digits()
    _, params, state = model.init(jax.random.key(0), (32, 64))
    namespace = {"jax": jax, "fn": fn, "model": model, "params": params, "state": state,
                 "loss": fn.softmax_cross_entropy_with_integer_labels(),
                 "x": train.x[:32], "t": train.y[:32]}  # fmt: skip
    exec(block, namespace)
    grad = jax.grad(namespace["f"])(params)
    expected = sum(jnp.sum(g) for g in jax.tree.leaves(grad))  # ⟨∇f, 1⟩
    np.testing.assert_allclose(namespace["slope"], expected, rtol=1e-4)
    assert np.isfinite(namespace["top"]) and jax.tree.structure(
        namespace["hv"]
    ) == jax.tree.structure(params)
