"""Per-example gradients (``jax.vmap`` of the hand-written backward) and a training step that
hands them to the optimizer, which is how DP-SGD is built from optax.

For a batch of ``B`` examples, ``per_example_grads`` returns every parameter's gradient with a
leading axis of size ``B``: entry ``i`` is the gradient of the loss on the batch made of example
``i`` alone. For a loss that is a mean over examples, their mean is the batch gradient. Each
op's backward reduces over whatever batch axes it sees, so under ``vmap`` the dense backward's
``dW = Xᵀ dY`` becomes one outer product ``x dyᵀ`` per example, written straight into the
``[B, n_in, n_out]`` result. docs/per_example.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from funcnet.core.layer import Layer
from funcnet.core.op import Backward, Op, check_backward
from funcnet.train.donation import DonatingStep
from funcnet.train.sharding import jit_data_parallel
from funcnet.train.step import Batch, TrainStep, batch_loss_fn, batch_metrics, jit_train_step


def _per_example_values_and_grads(model: Layer, loss: Op, backward: Backward, train: bool):
    """``(params, state, batch, key) -> (losses [B], outputs [B, ...], grads [B, ...])``."""
    loss_fn = batch_loss_fn(model, loss, backward, train)

    def one(params, state, x, t, key):
        def value(p):
            loss_value, (_, y) = loss_fn(p, state, (x[None], t[None]), key)
            return loss_value, y[0]

        (loss_value, y), grads = jax.value_and_grad(value, has_aux=True)(params)
        return loss_value, y, grads

    def run(params, state, batch, key):
        x, t = batch
        keys = None if key is None else jax.random.split(key, x.shape[0])
        key_axis = None if key is None else 0
        return jax.vmap(one, in_axes=(None, None, 0, 0, key_axis))(params, state, x, t, keys)

    return run


def per_example_grads(
    model: Layer,
    loss: Op,
    *,
    backward: Backward = "manual",
    train: bool = True,
    mesh: Mesh | None = None,
) -> Callable[..., Any]:
    """A jitted ``(params, state, batch, key, out=None) -> grads`` with a leading batch axis on
    each leaf.

    Each example's gradient is the gradient of the loss on a batch of that one example, computed
    by ``jax.vmap`` over the examples of the hand-written (or autodiff) backward. ``state`` is
    read, never updated. With a ``key``, example ``i`` gets ``jax.random.split(key, B)[i]``.
    With a ``mesh`` the examples (and their gradients) are split over its ``"data"`` axis.

    ``out``, the result of an earlier call with the same shapes, is donated: the new gradients
    are written into its buffers and it must not be used afterwards. The result is large
    (``B`` times the parameter count), and on CPU a freshly allocated one costs a page fault
    per 4 KiB page when first written; reusing the buffers avoids that (docs/per_example.md).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from funcnet.layers import dense
      >>> from funcnet.losses import mean_squared_error
      >>> model = dense(2)
      >>> _, params, state = model.init(jax.random.key(0), (5, 3))
      >>> grads = per_example_grads(model, mean_squared_error())
      >>> batch = (jnp.ones((5, 3)), jnp.zeros((5, 2)))
      >>> g = grads(params, state, batch, None)
      >>> g.w.shape, g.b.shape
      ((5, 3, 2), (5, 2))
      >>> g = grads(params, state, batch, None, g)  # into the previous result's buffers
    """
    check_backward(backward, "per_example_grads")
    values_and_grads = _per_example_values_and_grads(model, loss, backward, train)
    return jit_into_output(lambda *args: values_and_grads(*args)[2], mesh, "per_example_grads")


def jit_into_output(
    fn: Callable[[Any, Any, Batch, Any], Any], mesh: Mesh | None, where: str
) -> Callable[..., Any]:
    """``jax.jit`` of ``fn(params, state, batch, key)`` taking a fifth argument ``out``: None,
    or an earlier result whose buffers are donated to the new one."""

    def into(params, state, batch, key, out=None):
        result = fn(params, state, batch, key)
        _check_output_buffers(out, result, where)
        return result

    names = ("params", "state", "batch", "key", "out")
    fix = "Pass the result of the previous call as out, or out=None."
    if mesh is None:
        jitted = jax.jit(into, donate_argnums=4, keep_unused=True)
        return DonatingStep(jitted, where, names=names, carried=(), donated=("out",), fix=fix)
    jitted = jit_data_parallel(
        into, mesh, num_args=5, batch_argnum=2, split_argnums=(4,), split_outputs=True,
        donate_argnums=(4,), keep_unused=True, where=where,
    )  # fmt: skip

    def call(params, state, batch, key, out=None):
        return jitted(params, state, batch, key, out)

    call.lower = lambda *args: jitted.lower(*args, *[None] * (5 - len(args)))  # type: ignore[attr-defined]
    return DonatingStep(call, where, names=names, carried=(), donated=("out",), fix=fix)


def _check_output_buffers(out: Any, result: Any, where: str) -> None:
    """At trace time: ``out`` is None or has exactly the result's structure, shapes and dtypes."""
    if out is None:
        return
    expected = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), result)
    got = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), out)
    if expected != got:
        raise ValueError(
            f"{where}: expected out to be None or an earlier result with the same shapes, "
            f"{expected}, got {got}."
        )


def _check_batch_reduced(updates: Any, params: Any) -> None:
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
        if u.shape != p.shape:
            raise ValueError(
                "make_per_example_train_step: expected the optimizer to reduce the per-example "
                "gradients' leading batch axis (e.g. optax.contrib.differentially_private_"
                f"aggregate first in an optax.chain), got an update of shape {u.shape} for a "
                f"parameter of shape {p.shape}."
            )


def make_per_example_train_step(
    model: Layer,
    loss: Op,
    optimizer: optax.GradientTransformation,
    *,
    backward: Backward = "manual",
    donate: bool = True,
    mesh: Mesh | None = None,
) -> TrainStep:
    """Like :func:`~funcnet.train.make_train_step`, but ``optimizer`` receives per-example
    gradients (a leading batch axis on every leaf) and must reduce that axis.

    DP-SGD is ``optax.chain(optax.contrib.differentially_private_aggregate(clip, noise, key),
    optax.sgd(lr))``: each example's gradient is clipped to global norm ``clip``, the clipped
    gradients are summed, Gaussian noise of standard deviation ``noise · clip`` is added and the
    sum is divided by the batch size. Model ``state`` is passed through unchanged. The metrics
    are the batch's mean loss (and accuracy).

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from funcnet.layers import dense
      >>> from funcnet.losses import mean_squared_error
      >>> model = dense(1)
      >>> dp_sgd = optax.chain(
      ...     optax.contrib.differentially_private_aggregate(1.0, 0.5, jax.random.key(0)),
      ...     optax.sgd(0.1))
      >>> _, params, state = model.init(jax.random.key(1), (4, 2))
      >>> step = make_per_example_train_step(model, mean_squared_error(), dp_sgd)
      >>> batch = (jnp.ones((4, 2)), jnp.zeros((4, 1)))
      >>> params, state, _, metrics = step(params, state, dp_sgd.init(params), batch, None)
      >>> sorted(metrics)
      ['loss']
    """
    check_backward(backward, "make_per_example_train_step")
    values_and_grads = _per_example_values_and_grads(model, loss, backward, train=True)

    def step(params, state, opt_state, batch, key):
        losses, ys, grads = values_and_grads(params, state, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        _check_batch_reduced(updates, params)
        params = optax.apply_updates(params, updates)
        return params, state, opt_state, batch_metrics(jnp.mean(losses), ys, batch[1])

    return jit_train_step(step, donate=donate, mesh=mesh, where="make_per_example_train_step")


__all__ = ["jit_into_output", "make_per_example_train_step", "per_example_grads"]
