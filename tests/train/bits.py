"""Bit-for-bit comparison of pytrees, shared by the checkpoint, resume and loss-scale tests."""

import jax
import numpy as np


def bits(leaf):
    """The raw bytes of a leaf, so that -0.0, NaN payloads and key words must all agree."""
    if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    array = np.asarray(leaf)
    return array.dtype, array.shape, array.tobytes()


def assert_same_bits(a, b):
    """Same tree structure and, leaf by leaf, the same dtype, shape and bytes."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert bits(x) == bits(y)
