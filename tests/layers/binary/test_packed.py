"""Packed-bit inference equals the float computation exactly for ±1 values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.binary import BinaryParams, binary_dense, ste_sign_op
from funcnet.layers.binary.packed import pack_bits, pack_dense, packed_dense_apply


def test_pack_bits_puts_bit_i_of_word_j_at_element_32j_plus_i():
    x = -jnp.ones((1, 40)).at[0, jnp.array([0, 5, 31, 33])].set(0.0)
    np.testing.assert_array_equal(pack_bits(x), [[2**0 + 2**5 + 2**31, 2**1]])


def test_packed_layer_equals_the_binary_dense_layer_with_padding_scale_and_bias():
    kw, kx = jax.random.split(jax.random.key(0))
    w, x, b = jax.random.normal(kw, (37, 5)), jax.random.normal(kx, (3, 37)), jnp.arange(5.0)
    layer = binary_dense(5, input_quantizer=ste_sign_op(), xnor_scale=True, use_bias=True)
    expected, _ = layer.apply(BinaryParams(w, b), (), x)
    actual = packed_dense_apply(pack_dense(w, b, xnor_scale=True), x)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    plain = packed_dense_apply(pack_dense(w), x)
    np.testing.assert_array_equal(plain, jnp.where(x >= 0, 1, -1) @ jnp.where(w >= 0, 1, -1))
    with pytest.raises(ValueError, match=r"^packed_dense_apply: expected inputs of size 33 to 64"):
        packed_dense_apply(pack_dense(w), x[:, :32])
