"""Packed-bit inference equals the float computation exactly for ±1 values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.binary.packed import pack_bits, pack_dense, packed_dense_apply


def test_pack_bits_puts_bit_i_of_word_j_at_element_32j_plus_i():
    x = -jnp.ones((1, 40)).at[0, jnp.array([0, 5, 31, 33])].set(0.0)
    np.testing.assert_array_equal(pack_bits(x), [[2**0 + 2**5 + 2**31, 2**1]])


def test_packed_layer_equals_the_float_computation_with_padding_scale_and_bias():
    rng = np.random.default_rng(0)
    w, x, b = rng.normal(size=(37, 5)), rng.normal(size=(3, 37)), np.arange(5.0)
    signs = np.where(x >= 0, 1, -1) @ np.where(w >= 0, 1, -1)
    packed = jax.jit(pack_dense, static_argnames="xnor_scale")
    plain, scaled = packed(jnp.asarray(w)), packed(jnp.asarray(w), jnp.asarray(b), xnor_scale=True)
    apply = jax.jit(packed_dense_apply)
    np.testing.assert_array_equal(apply(plain, jnp.asarray(x)), signs)
    expected = signs * np.mean(np.abs(w), axis=0) + b
    np.testing.assert_allclose(apply(scaled, jnp.asarray(x)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"^packed_dense_apply: expected inputs of size 33 to 64"):
        packed_dense_apply(plain, jnp.asarray(x[:, :32]))
