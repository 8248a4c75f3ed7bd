"""The gradient predictor: zero output at initialisation, label conditioning, bad input.
(The layer contract, tests/core/test_layer_registry.py, runs its registered configuration.)"""

import jax
import jax.numpy as jnp
import pytest

from funcnet.dni import gradient_predictor


def test_starts_at_zero_and_the_label_moves_it_once_trained():
    m = gradient_predictor(3, num_classes=4)
    _, params, state = m.init(jax.random.key(0), (2, 3))
    h, labels = jnp.ones((2, 3)), jnp.array([1, 2])
    g, _ = m.apply(params, state, (h, labels))
    assert float(jnp.abs(g).max()) == 0.0
    rows = params.label_rows._replace(table=params.label_rows.table.at[2].set(1.0))
    g, _ = m.apply(params._replace(label_rows=rows), state, (h, labels))
    assert g[0].tolist() == [0.0, 0.0, 0.0] and g[1].tolist() == [1.0, 1.0, 1.0]


def test_a_hidden_predictor_maps_back_to_the_activation_width():
    m = gradient_predictor(3, hidden_features=(5, 2))
    _, params, state = jax.jit(m.init, static_argnums=1)(jax.random.key(0), (2, 3))
    assert params.rest[-1].w.shape == (2, 3) and float(jnp.abs(params.rest[-1].w).max()) == 0
    g, _ = jax.jit(m.apply)(params, state, jnp.ones((2, 3)))
    assert g.shape == (2, 3)


def test_bad_input_names_the_interface():
    cdni = gradient_predictor(3, num_classes=4)
    _, params, state = cdni.init(jax.random.key(0), (2, 3))
    with pytest.raises(ValueError, match=r"decoupling interface.*\(h, labels\).*cDNI"):
        cdni.apply(params, state, jnp.ones((2, 3)))
    dni = gradient_predictor(3)
    _, params, state = dni.init(jax.random.key(0), (2, 3))
    with pytest.raises(ValueError, match=r"decoupling interface.*without labels"):
        dni.apply(params, state, (jnp.ones((2, 3)), jnp.array([0, 1])))
    with pytest.raises(ValueError, match=r"gradient_predictor: expected input axis -1 of size 3"):
        dni.apply(params, state, jnp.ones((2, 5)))
