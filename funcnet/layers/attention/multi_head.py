"""Multi-head attention: dense projections, heads, scaled dot-product attention, output.

For queries ``Xq [..., Tq, Dq]`` and keys/values ``Xk [..., Tk, Dk]``, ``Xv [..., Tk, Dv]``::

    Q = split(Xq Wq + bq)   K = split(Xk Wk + bk)   V = split(Xv Wv + bv)     [..., H, T, d]
    Y = merge(attention(Q, K, V[, mask])) Wo + bo                            [..., Tq, D]

Every step is an op with a hand-written backward (dense, split/merge heads, attention);
``backward`` reaches each of them. Docs: docs/attention.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer, check_floating, check_option_applies, check_positive_int
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import check_backward
from funcnet.core.registry import Arg
from funcnet.layers.attention._common import check_mask_shape
from funcnet.layers.attention.dot_product import dot_product_attention_op
from funcnet.layers.attention.heads import merge_heads_op, split_heads_op
from funcnet.layers.attention.lean import dot_product_attention_lean_op
from funcnet.layers.dense import DenseParams, dense, dense_op

NAME = "multi_head_attention"


class MultiHeadAttentionParams(NamedTuple):
    q: DenseParams  # [Dq, H·d]
    k: DenseParams  # [Dk, H·d], no bias (the softmax is blind to it)
    v: DenseParams  # [Dv, H·d]
    out: DenseParams  # [H·d, D]


def _unpack(x: Any) -> tuple[Any, Any, Any, Any]:
    """``x`` (self-attention) or ``(q, k, v)`` or ``(q, k, v, mask)`` -> ``(q, k, v, mask)``."""
    if isinstance(x, (tuple, list)):
        if len(x) not in (3, 4):
            raise ValueError(
                f"{NAME}: expected an input x, (q, k, v) or (q, k, v, mask), "
                f"got a sequence of {len(x)} items."
            )
        return (*x, None) if len(x) == 3 else tuple(x)
    return x, x, x, None


def _check_inputs(q_shape, k_shape, v_shape) -> None:
    for what, shape in (("q", q_shape), ("k", k_shape), ("v", v_shape)):
        if len(shape) < 2:
            raise ValueError(
                f"{NAME}: expected {what} of rank >= 2 [..., T, features], got shape {shape}."
            )
    if not q_shape[:-2] == k_shape[:-2] == v_shape[:-2]:
        raise ValueError(
            f"{NAME}: expected q, k, v with the same leading axes, got shapes "
            f"{q_shape}, {k_shape}, {v_shape}."
        )
    if k_shape[-2] != v_shape[-2]:
        raise ValueError(
            f"{NAME}: expected k and v of the same length Tk on axis -2, got shapes "
            f"{k_shape} and {v_shape}."
        )


def _check_mask(mask: Any, scores_shape: tuple[int, ...], dtype: Any) -> str:
    """Validate a layer-level mask; return its kind for the attention op."""
    m_dtype, shape = jnp.result_type(mask), tuple(jnp.shape(mask))
    if jnp.issubdtype(m_dtype, jnp.floating):
        kind = "additive"
        if m_dtype != jnp.dtype(dtype):
            raise ValueError(
                f"{NAME}: expected an additive mask of dtype {jnp.dtype(dtype)}, got {m_dtype}."
            )
    elif jnp.issubdtype(m_dtype, jnp.integer) or m_dtype == jnp.bool_:
        kind = "bool"
    else:
        raise ValueError(f"{NAME}: expected a boolean, integer or float mask, got {m_dtype}.")
    check_mask_shape(NAME, shape, scores_shape, "the scores' shape", "[..., heads, Tq, Tk]")
    return kind


@layer_factory("multi_head_attention")
def multi_head_attention(
    num_heads: int,
    *,
    features: int | None = None,
    head_features: int | None = None,
    causal: bool = False,
    lean: bool = False,
    block_size: int | None = None,
    use_bias: bool = True,
    dtype: Any = jnp.float32,
) -> Layer:
    """Multi-head (self- or cross-) attention.

    Args:
      num_heads: number of heads ``H``.
      features: output features ``D`` (default: the query input's features ``Dq``).
      head_features: features per head ``d`` (default: ``D / H``, which must then be an integer).
      causal: each query position ``i`` sees key positions ``j ≤ i + Tk − Tq`` only.
      lean: use the memory-lean blockwise attention (``O(T)`` residuals).
      block_size: keys per block of the lean attention (default 128; with ``lean`` only: a
        TypeError otherwise).
      use_bias: biases in the query, value and output projections (the key projection has
        none: ``q·b_k`` is the same for every key of a row, and the softmax ignores it).
      dtype: dtype of the parameters; the inputs must have the same dtype.

    Input:
      ``x [..., T, Dq]`` (self-attention), ``(q, k, v)`` or ``(q, k, v, mask)`` with
      ``q [..., Tq, Dq]``, ``k [..., Tk, Dk]``, ``v [..., Tk, Dv]`` and ``mask`` broadcastable
      to ``[..., H, Tq, Tk]``: boolean/integer (nonzero = attend; a key-padding mask
      ``[B, Tk]`` is passed as ``mask[:, None, None, :]``) or float (added to the scores).

    Shapes:
      -> y: ``[..., Tq, D]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = multi_head_attention(2, causal=True)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (3, 5, 8))
      >>> out_shape, params.q.w.shape
      ((3, 5, 8), (8, 8))
    """
    check_positive_int(NAME, "num_heads", num_heads)
    for what, value in (("features", features), ("head_features", head_features)):
        if value is not None:
            check_positive_int(NAME, what, value)
    if not isinstance(causal, bool) or not isinstance(lean, bool):
        raise TypeError(f"{NAME}: expected causal and lean to be bools, got {causal!r}, {lean!r}.")
    check_option_applies(NAME, "block_size", block_size, lean, "with lean=True")
    block_size = 128 if block_size is None else block_size
    check_positive_int(NAME, "block_size", block_size)

    def attention_op(kind: str | None):
        if lean:
            return dot_product_attention_lean_op(causal, kind, block_size)
        return dot_product_attention_op(causal, kind)

    ops = {kind: attention_op(kind) for kind in (None, "bool", "additive")}
    split, merge = split_heads_op(num_heads), merge_heads_op(num_heads)
    linear = {True: dense_op(True), False: dense_op(False)}

    def dims(q_features: int) -> tuple[int, int]:
        out_dim = features or q_features
        if head_features is not None:
            return out_dim, head_features
        if out_dim % num_heads:
            raise ValueError(
                f"{NAME}: expected features divisible by num_heads={num_heads} (or head_features), "
                f"got features {out_dim}."
            )
        return out_dim, out_dim // num_heads

    def init(key: jax.Array, input_shape):
        nested = isinstance(input_shape, (tuple, list)) and any(
            isinstance(s, (tuple, list)) for s in input_shape
        )
        shapes = [tuple(s) for s in input_shape] if nested else [tuple(input_shape)] * 3
        if len(shapes) not in (3, 4):
            raise ValueError(
                f"{NAME}: expected an input shape or the shapes of (q, k, v[, mask]), "
                f"got {input_shape!r}."
            )
        _check_inputs(*shapes[:3])
        out_dim, d = dims(shapes[0][-1])
        # no key bias: it adds q·b_k to every score of a row, which the softmax ignores (its
        # gradient would be identically zero)
        projections = [dense(num_heads * d, use_bias=bias, dtype=dtype)
                       for bias in (use_bias, False, use_bias)]  # fmt: skip
        projections.append(dense(out_dim, use_bias=use_bias, dtype=dtype))
        keys = jax.random.split(key, 4)
        in_shapes = [*shapes[:3], (*shapes[0][:-1], num_heads * d)]
        params = [p.init(k, s)[1] for p, k, s in zip(projections, keys, in_shapes, strict=True)]
        return (*shapes[0][:-1], out_dim), MultiHeadAttentionParams(*params), ()

    def project(p: DenseParams, x: jax.Array, backward: str) -> jax.Array:
        if x.shape[-1] != p.w.shape[0]:
            raise ValueError(
                f"{NAME}: expected an input with {p.w.shape[0]} features on axis -1 (as at "
                f"init), got shape {x.shape}."
            )
        has_bias = p.b is not None
        return linear[has_bias](*((x, p.w, p.b) if has_bias else (x, p.w)), backward=backward)

    def apply(params: MultiHeadAttentionParams, state, x, *, key=None, train=False,
              backward="manual"):  # fmt: skip
        del key, train
        check_backward(backward, NAME)
        q, k, v, mask = _unpack(x)
        _check_inputs(jnp.shape(q), jnp.shape(k), jnp.shape(v))
        for arr in (q, k, v):
            check_floating(NAME, arr, params.q.w.dtype)
        heads = [split(project(p, a, backward), backward=backward)
                 for p, a in ((params.q, q), (params.k, k), (params.v, v))]  # fmt: skip
        if mask is None:
            o = ops[None](*heads, backward=backward)
        else:
            scores_shape = (*heads[0].shape[:-1], heads[1].shape[-2])
            kind = _check_mask(mask, scores_shape, params.q.w.dtype)
            o = ops[kind](*heads, mask, backward=backward)
        return project(params.out, merge(o, backward=backward), backward), state

    return Layer(NAME, init, apply)


add_layer_cases(
    NAME,
    lambda: [
        LayerCase(  # lean with two key blocks: the direct op is in every transformer case
            "causal_lean",
            multi_head_attention(2, causal=True, lean=True, block_size=2),
            Arg((2, 3, 4)),
        )
    ],
)
