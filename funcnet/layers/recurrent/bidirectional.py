"""``bidirectional(layer)``: a sequence layer run forward and on the time-reversed input.

``y = concat(layer_f(x), flip(layer_b(flip(x))))`` on the feature axis, with two independent
parameter sets. The two ops it needs are permutations, so their VJPs permute back::

    flip:    y = x[..., ::-1 (axis), ...]      dx = flip(dy)
    concat:  y = [a, b] on the last axis       da, db = the two slices of dy

With a mask, the mask is flipped too: padding at the end becomes padding at the start, where
it keeps the initial state, so the reversed pass starts at each sequence's last real step.
See docs/recurrent.md.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import Layer, check_input_shape, check_shape_rank
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.recurrent.elman import rnn
from funcnet.layers.recurrent.sequence import RecurrentInput, masked_input


@op_factory("flip")
def flip_op(axis: int = -2) -> Op:
    """The op ``x -> jnp.flip(x, axis)`` (the time axis of ``[..., T, F]`` by default)."""

    def forward(x):
        return jnp.flip(x, axis)

    def fwd(x):
        return forward(x), None

    def bwd(res, dy):
        # dx = flip(dy): a permutation's VJP is its inverse, and a flip is its own inverse
        del res
        return (jnp.flip(dy, axis),)

    return make_op("flip", forward, fwd, bwd, jvp=linear_jvp(forward))  # ẋ flipped


@op_factory("concat")
def concat_op(width: int) -> Op:
    """The op ``(a, b) -> [a, b]`` on the last axis, ``a`` having ``width`` features there."""

    def forward(a, b):
        if a.shape[-1] != width:
            raise ValueError(f"concat: expected a first part of width {width}, got {a.shape}.")
        return jnp.concatenate([a, b], axis=-1)

    def fwd(a, b):
        return forward(a, b), None

    def bwd(res, dy):
        # da = dy[..., :width], db = dy[..., width:]
        del res
        return dy[..., :width], dy[..., width:]

    return make_op("concat", forward, fwd, bwd, jvp=linear_jvp(forward))  # [ȧ, ḃ]


@layer_factory("bidirectional")
def bidirectional(layer: Layer) -> Layer:
    """Run ``layer`` forward and backward in time and concatenate the outputs' features.

    Works with :func:`~funcnet.layers.rnn`, :func:`~funcnet.layers.lstm`,
    :func:`~funcnet.layers.gru` (any options). The input is ``x`` or a
    :class:`RecurrentInput`; its ``state``, if given, is a pair ``(forward, backward)``. With
    ``return_state=True`` the output is ``(y, (forward_final_state, backward_final_state))``.

    Shapes:
      x: ``[..., T, F]`` -> ``[..., T, 2H]`` (sequences) or ``[..., 2H]`` (final states).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from funcnet.layers import gru
      >>> layer = bidirectional(gru(3))
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 5, 4))
      >>> y, _ = layer.apply(params, state, jnp.ones((2, 5, 4)))
      >>> shape, y.shape
      ((2, 5, 6), (2, 5, 6))
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"bidirectional: expected a Layer, got {type(layer).__name__}.")
    name = f"bidirectional({layer.name})"
    flip = flip_op()

    def doubled(shape: Any) -> Any:
        return (*shape[:-1], 2 * shape[-1])

    def init(key: jax.Array, input_shape: Any):
        if not isinstance(input_shape, RecurrentInput):
            check_input_shape(name, input_shape)
        k_f, k_b = jax.random.split(key)
        out, p_f, s_f = layer.init(k_f, input_shape)
        _, p_b, s_b = layer.init(k_b, input_shape)
        if isinstance(out[0], tuple):  # return_state: (output shape, state shape)
            return (doubled(out[0]), (out[1], out[1])), (p_f, p_b), (s_f, s_b)
        return doubled(out), (p_f, p_b), (s_f, s_b)

    def apply(params, state, inputs, *, key=None, train=False, backward="manual"):
        check_backward(backward, name)
        inputs = inputs if isinstance(inputs, RecurrentInput) else RecurrentInput(inputs)
        x, mask, s0 = inputs
        check_shape_rank(name, jnp.shape(x), 2)  # before flipping the time axis, -2
        if s0 is not None and not (isinstance(s0, tuple) and len(s0) == 2):
            raise TypeError(f"{name}: expected an initial state pair (forward, backward).")
        s0_f, s0_b = (None, None) if s0 is None else s0
        x_rev = flip(x, backward=backward)
        mask_rev = None if mask is None else jnp.flip(jnp.asarray(mask), -1)
        k_f, k_b = (None, None) if key is None else jax.random.split(key)
        run = dict(train=train, backward=backward)
        y_f, st_f = layer.apply(params[0], state[0], RecurrentInput(x, mask, s0_f), key=k_f, **run)
        y_b, st_b = layer.apply(
            params[1], state[1], RecurrentInput(x_rev, mask_rev, s0_b), key=k_b, **run
        )
        final = None
        if isinstance(y_f, tuple):  # return_state
            (y_f, final_f), (y_b, final_b) = y_f, y_b
            final = (final_f, final_b)
        if y_b.ndim == jnp.ndim(x):  # a sequence output: align the reversed pass with x
            y_b = flip(y_b, backward=backward)
        y = concat_op(y_f.shape[-1])(y_f, y_b, backward=backward)
        return (y if final is None else (y, final)), (st_f, st_b)

    return Layer(name, init, apply)


add_cases(
    "flip",
    lambda: [Case("time_axis", flip_op(), (Arg((2, 3, 2)),), second_order=True)],
)
add_cases(
    "concat",
    lambda: [Case("features", concat_op(2), (Arg((2, 3, 2)), Arg((2, 3, 3))), second_order=True)],
)
add_layer_cases(
    "bidirectional",
    lambda: [LayerCase("rnn_masked", bidirectional(rnn(4)), Arg((2, 3, 3 + 1)),
                       make_input=masked_input)],
)  # fmt: skip
