"""The ready models take ``dtype`` as the layers do: every parameter, and the output, in it."""

import jax
import jax.numpy as jnp
import pytest

from funcnet.models import cnn, gru_classifier, lstm_classifier, mlp, transformer_lm

MODELS = {
    "mlp": (lambda dtype: mlp((8,), 3, dtype=dtype), (2, 5)),
    "cnn_1d": (lambda dtype: cnn(1, 3, channels=(4,), hidden_features=8, dtype=dtype), (2, 8, 1)),
    "cnn_2d_batch_norm": (
        lambda dtype: cnn(2, 3, channels=(4,), hidden_features=8, batch_norm=True, dtype=dtype),
        (2, 8, 8, 1),
    ),
    "gru_classifier": (lambda dtype: gru_classifier(4, 3, dtype=dtype), (2, 5, 1)),
    "lstm_classifier": (lambda dtype: lstm_classifier(4, 3, dtype=dtype), (2, 5, 1)),
}


@pytest.mark.parametrize("name", MODELS)
def test_model_parameters_and_output_take_the_dtype(name):
    build, shape = MODELS[name]
    model = build(jnp.bfloat16)
    params, state = jax.eval_shape(lambda k: model.init(k, shape)[1:], jax.random.key(0))
    assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(jnp.bfloat16)}
    x = jax.ShapeDtypeStruct(shape, jnp.bfloat16)
    y, _ = jax.eval_shape(lambda p, s, x: model.apply(p, s, x), params, state, x)
    assert y.dtype == jnp.bfloat16 and y.shape == (2, 3)
    with pytest.raises(ValueError, match="expected input dtype bfloat16"):
        jax.eval_shape(lambda p, s, x: model.apply(p, s, x), params, state,
                       jax.ShapeDtypeStruct(shape, jnp.float32))  # fmt: skip


def test_transformer_lm_takes_the_dtype():
    model = transformer_lm(11, context=4, features=8, num_heads=2, num_blocks=1, dtype=jnp.float16)
    params = jax.eval_shape(lambda k: model.init(k, (2, 4))[1], jax.random.key(0))
    assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(jnp.float16)}
