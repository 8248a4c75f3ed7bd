"""The embedding layer and op: lookup, scatter-add gradient, padding and out-of-range ids.

Shapes, gradients, jit, vmap and bad input: the layer contract (tests/core/test_layer_registry.py).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.embedding import EmbeddingParams, embedding, embedding_op
from funcnet.verify import VerificationError, verify_op
from tests.core.manual_jvp_path import assert_manual_jvp_matches_autodiff

IDS = jnp.array([[0, 3, 3, 9], [-1, 2, 3, 7]])  # vocab 7: 9, 7 and -1 are out of range


def test_init_shapes_dtype_and_scale():
    out_shape, params, state = embedding(500, 64).init(jax.random.key(0), (2, 3))
    assert out_shape == (2, 3, 64) and params.table.shape == (500, 64) and state == ()
    assert params.table.dtype == jnp.float32
    assert float(jnp.var(params.table)) == pytest.approx(1 / 64, rel=0.05)
    _, params, _ = embedding(5, 2, padding_idx=3, dtype=jnp.bfloat16).init(jax.random.key(0), (1,))
    assert params.table.dtype == jnp.bfloat16
    assert jnp.all(params.table[3] == 0) and jnp.all(params.table[2] != 0)


def test_lookup_matches_numpy_and_out_of_range_ids_give_zeros():
    layer = embedding(7, 4)
    _, params, state = layer.init(jax.random.key(0), IDS.shape)
    table, ids = np.asarray(params.table), np.asarray(IDS)
    valid = (ids >= 0) & (ids < 7)
    expected = np.where(valid[..., None], table[np.where(valid, ids, 0)], 0.0)
    for backward in ("manual", "autodiff"):
        y, _ = layer.apply(params, state, IDS, backward=backward)
        np.testing.assert_array_equal(y, expected)
    assert jnp.all(y[0, 3] == 0) and jnp.all(y[1, 0] == 0)  # 9 and -1 (no wrap to row 6)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_gradient_is_a_scatter_add_without_padding_or_out_of_range(backward, padding_idx):
    layer = embedding(7, 4, padding_idx=padding_idx)
    _, params, state = layer.init(jax.random.key(0), IDS.shape)
    c = jax.random.normal(jax.random.key(1), (*IDS.shape, 4))

    def f(params):
        return jnp.sum(c * layer.apply(params, state, IDS, backward=backward)[0])

    expected = np.zeros((7, 4), np.float32)
    for i, j in np.ndindex(IDS.shape):
        v = int(IDS[i, j])
        if 0 <= v < 7 and v != padding_idx:
            expected[v] += np.asarray(c[i, j])
    grad = jax.grad(f)(params).table
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)
    assert jnp.any(grad[3] != 0) == (padding_idx is None)  # id 3 repeats: its rows accumulate


def test_padding_id_gives_a_zero_vector_whatever_its_row_holds():
    op, table = embedding_op(padding_idx=1), jnp.arange(8.0).reshape(4, 2)
    np.testing.assert_array_equal(op(jnp.array([1, 2]), table), [[0.0, 0.0], [4.0, 5.0]])


def test_ids_get_no_gradient():
    op, table = embedding_op(), jnp.ones((4, 2))
    ids = jnp.array([0, 2, 2])
    _, vjp = jax.vjp(op, ids, table)
    d_ids, d_table = vjp(jnp.ones((3, 2)))
    assert d_ids.dtype == jax.dtypes.float0 and d_ids.shape == (3,)
    np.testing.assert_array_equal(d_table, [[1, 1], [0, 0], [2, 2], [0, 0]])


def test_residuals_are_the_ids_and_a_shape_never_the_table():
    _, (rows, witness) = embedding_op().fwd(jnp.array([[1, 5]], jnp.int8), jnp.ones((4, 3)))
    assert rows.dtype == jnp.int32 and rows.tolist() == [[1, 4]]  # 5 -> V, dropped later
    assert witness.shape == (0, 4, 3) and witness.size == 0


def test_planted_bug_overwriting_repeated_ids_is_caught():
    def overwriting_bwd(res, dy):
        rows, witness = res
        dtable = jnp.zeros(witness.shape[1:], dy.dtype)
        return None, dtable.at[rows.reshape(-1)].set(dy.reshape(-1, dy.shape[-1]), mode="drop")

    bad = embedding_op().with_bwd(overwriting_bwd)
    report = verify_op(bad, (Arg((12,), kind="int", high=3), Arg((3, 2))))
    with pytest.raises(
        VerificationError, match=r"op 'embedding'.*autodiff check failed for 'table'"
    ):
        report.raise_if_failed()


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="embedding: expected vocab_size to be a positive integer"):
        embedding(0, 4)
    with pytest.raises(
        TypeError, match=r"embedding: expected features to be a positive integer, got 2\.5"
    ):
        embedding(3, 2.5)
    with pytest.raises(TypeError, match="embedding: expected padding_idx to be None or an"):
        embedding(3, 2, padding_idx=1.0)
    with pytest.raises(
        ValueError, match=r"embedding: expected padding_idx to be None or an integer in \[0, 3\)"
    ):
        embedding(3, 2, padding_idx=3)
    with pytest.raises(
        ValueError,
        match="embedding: expected padding_idx to be None or a non-negative integer, got -1",
    ):
        embedding_op(padding_idx=-1)
    with pytest.raises(ValueError, match="embedding: expected a floating-point dtype, got int32"):
        embedding(3, 2, dtype=jnp.int32)


def test_bad_inputs_name_the_layer_expected_and_actual():
    layer = embedding(5, 2)
    _, params, state = layer.init(jax.random.key(0), (3,))
    with pytest.raises(ValueError, match="embedding: expected integer ids, got dtype bool"):
        layer.apply(params, state, jnp.array([True, False]))
    with pytest.raises(
        ValueError,
        match=r"embedding: expected a floating-point table \[vocab_size, features\], got "
        r"shape \(5,\)",
    ):
        embedding_op()(jnp.array([0]), jnp.ones(5))
    with pytest.raises(ValueError, match=r"padding_idx to be None or an integer in \[0, 2\)"):
        embedding_op(padding_idx=4)(jnp.array([0]), jnp.ones((2, 3)))


def test_manual_jvp_path_matches_autodiff(x64):
    # the tangent table's rows at the same ids: repeats, padding and out-of-range ids included
    layer = embedding(5, 3, padding_idx=0)

    def apply(ids, table, backward):
        return layer.apply(EmbeddingParams(table), (), ids, backward=backward)[0]

    table = jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)))
    assert_manual_jvp_matches_autodiff(apply, jnp.array([[1, 0, 1], [4, 7, 2]]), table)
