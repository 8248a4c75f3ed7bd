"""Mixed precision: parameters kept in one dtype, the model computed in another.

``mixed_precision(model, Policy(compute_dtype=jnp.bfloat16))`` is a layer whose parameters
are stored (and updated by the optimizer) in ``param_dtype``, usually float32, while every op
of ``model`` runs in ``compute_dtype``; its output is returned in ``output_dtype`` so the loss
is computed wide. The boundary is the registered ``cast`` op (funcnet/layers/cast.py), so
gradients flow back through hand-written VJPs and arrive in ``param_dtype``.

float16's narrow exponent range lets small gradients underflow; scale the loss for it
(``make_train_step(..., loss_scale=S)``) and skip non-finite steps with
``optax.apply_if_finite``. bfloat16 has float32's exponent range and needs neither.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer, Shape
from funcnet.core.op import check_backward
from funcnet.layers.cast import cast_op


class Policy(NamedTuple):
    """Which dtype parameters are stored in, the model computes in, and outputs are given in."""

    compute_dtype: Any = jnp.bfloat16
    param_dtype: Any = jnp.float32
    output_dtype: Any = jnp.float32


def _is_floating(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.floating)


def cast_floating(tree: Any, dtype: Any, backward: str = "manual") -> Any:
    """Every floating leaf of ``tree`` cast to ``dtype`` through the ``cast`` op."""
    op = cast_op(dtype)
    return jax.tree.map(lambda a: op(a, backward=backward) if _is_floating(a) else a, tree)


def mixed_precision(model: Layer, policy: Policy) -> Layer:
    """``model`` computed in ``policy.compute_dtype`` with parameters in ``policy.param_dtype``.

    ``model`` must be built with ``dtype=policy.param_dtype`` (the layers' default float32).
    State (running statistics) is stored in ``param_dtype`` too and updated in the compute
    dtype. The input may come in any floating dtype; it is cast to the compute dtype.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from funcnet.models import mlp
      >>> model = mixed_precision(mlp((8,), 3), Policy(jnp.bfloat16))
      >>> _, params, state = model.init(jax.random.key(0), (2, 4))
      >>> params[0].w.dtype
      dtype('float32')
      >>> y, _ = model.apply(params, state, jnp.ones((2, 4)))
      >>> y.dtype
      dtype('float32')
    """
    name = f"mixed_precision({model.name})"
    for field, dtype in policy._asdict().items():
        if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
            raise ValueError(f"{name}: expected a floating {field}, got {jnp.dtype(dtype)}.")

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, Any, Any]:
        out_shape, params, state = model.init(key, input_shape)
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            if _is_floating(leaf) and leaf.dtype != jnp.dtype(policy.param_dtype):
                raise ValueError(
                    f"{name}: expected parameters of dtype {jnp.dtype(policy.param_dtype)}, got "
                    f"{leaf.dtype} at {jax.tree_util.keystr(path)}; build the model with "
                    f"dtype={jnp.dtype(policy.param_dtype)}."
                )
        return out_shape, params, state

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        check_backward(backward, name)
        compute = policy.compute_dtype
        y, new_state = model.apply(
            cast_floating(params, compute, backward),
            cast_floating(state, compute, backward),
            cast_floating(x, compute, backward),
            key=key,
            train=train,
            backward=backward,
        )
        new_state = jax.tree.map(
            lambda new, old: new.astype(old.dtype) if _is_floating(old) else new, new_state, state
        )
        return cast_floating(y, policy.output_dtype, backward), new_state

    return Layer(name, init, apply)
