"""Compiled training and evaluation steps, on one device or data parallel over a mesh.

``backward`` is closed over, never a runtime argument: a step built for the manual backward
can never reuse a trace made for autodiff, or the other way round. With ``mesh`` (see
:mod:`funcnet.train.sharding`) the same step is compiled as one SPMD program over the mesh's
``"data"`` axis; docs/distributed.md. Loss scaling for float16 is static (``loss_scale=S``) or
dynamic (an optimizer wrapped in :func:`~funcnet.train.loss_scale.dynamic_loss_scale`, whose
state holds the scale); docs/mixed_precision.md.
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
from funcnet.train.extra_args import (
    extra_arg_names,
    extra_args,
    optimizer_metrics,
    stores_value_and_grad,
)
from funcnet.train.loss_scale import DynamicLossScaleState
from funcnet.train.nonfinite import (
    NONFINITE_MODES,
    NonFinite,
    check_choice,
    finite_step,
    keep_unless,
)
from funcnet.train.sharding import jit_data_parallel

Batch = tuple[Any, Any]
Metrics = dict[str, jax.Array]
TrainStep = Callable[[Any, Any, Any, Batch, Any], tuple[Any, Any, Any, Metrics]]


def batch_metrics(loss_value: jax.Array, y: jax.Array, t: jax.Array) -> Metrics:
    """The loss, and the accuracy when ``t`` holds integer class labels for ``y``'s last axis."""
    metrics = {"loss": loss_value}
    if jnp.issubdtype(t.dtype, jnp.integer) and y.ndim == t.ndim + 1:
        metrics["accuracy"] = jnp.mean(jnp.argmax(y, axis=-1) == t)
    return metrics


def batch_loss_fn(model: Layer, loss: Op, backward: Backward, train: bool) -> Callable[..., Any]:
    """``(params, state, batch, key) -> (loss, (new_state, y))``, ready for ``jax.grad``."""

    def fn(params, state, batch, key):
        x, t = batch
        y, new_state = model.apply(params, state, x, key=key, train=train, backward=backward)
        return loss(y, t, backward=backward), (new_state, y)

    return fn


def check_loss_scale(loss_scale: Any) -> None:
    """Raise unless ``loss_scale`` is ``None`` or a positive finite number."""
    if loss_scale is None:
        return
    if (
        isinstance(loss_scale, bool)
        or not isinstance(loss_scale, (int, float))
        or not 0 < loss_scale < float("inf")
    ):
        raise ValueError(
            f"make_train_step: expected loss_scale to be None or a positive finite number, "
            f"got {loss_scale!r}."
        )


def _is_dynamic(tree: Any) -> bool:
    return isinstance(tree, DynamicLossScaleState)


def dynamic_scale(opt_state: Any, loss_scale: float | None) -> jax.Array | None:
    """At trace time: the scale of a :func:`~funcnet.train.loss_scale.dynamic_loss_scale`
    optimizer's state, or None for any other optimizer."""
    if not _is_dynamic(opt_state):
        if any(map(_is_dynamic, jax.tree.leaves(opt_state, is_leaf=_is_dynamic))):
            raise ValueError(
                "make_train_step: expected dynamic_loss_scale(...) to be the optimizer itself, "
                "got it nested inside another transformation's state."
            )
        return None
    if loss_scale is not None:
        raise ValueError(
            f"make_train_step: expected loss_scale=None with a dynamic_loss_scale optimizer, "
            f"got loss_scale={loss_scale!r}."
        )
    return opt_state.scale


def make_train_step(
    model: Layer,
    loss: Op,
    optimizer: optax.GradientTransformation,
    *,
    backward: Backward = "manual",
    donate: bool = True,
    mesh: Mesh | None = None,
    loss_scale: float | None = None,
    nonfinite: NonFinite = "apply",
    full_batch: bool = False,
) -> TrainStep:
    """A jitted, pure ``(params, state, opt_state, batch, key) -> (params, state, opt_state,
    metrics)``.

    Gradients come from the ops' hand-written backward passes (``backward="manual"``) or from
    JAX autodiff of their reference forwards (``"autodiff"``).

    Donation: ``params``, ``state`` and ``opt_state`` are donated (unless ``donate=False``): the
    step writes the new ones into their memory and JAX deletes the arrays passed in, so use the
    ones the call returns (``params, state, opt_state, metrics = step(params, state, opt_state,
    batch, key)``); keep a copy (``jax.tree.map(jnp.copy, params)``) of any you need later.
    Passing a consumed array again raises :class:`~funcnet.train.donation.DonatedArrayError`
    naming it. The batch and the key are never donated.

    Non-finite steps: with ``nonfinite="flag"`` the metrics add ``nonfinite``, 1.0 for a step
    whose loss or gradient norm is inf or NaN and 0.0 otherwise; with ``"skip"`` such a step
    also returns the params, state and optimizer state it was given, unchanged
    (:mod:`funcnet.train.nonfinite`; an optimizer that guards itself with
    ``optax.apply_if_finite`` is judged by the loss only). ``"apply"`` (the default) does
    neither.

    Optimizers that take the loss's value and the loss itself (``optax.lbfgs`` and other line
    searches, ``GradientTransformationExtraArgs``) get ``value``, ``grad`` and ``value_fn`` (the
    loss on this batch as a function of the params) as keyword arguments; the line search runs
    inside the compiled step. With ``full_batch=True`` (every call passes the same batch and the
    model is deterministic) the value and gradient the line search computed at the new params
    are reused by the next call instead of computed again (``optax.value_and_grad_from_state``);
    :mod:`funcnet.train.extra_args`. An ``update`` that names ``value_and_grad_fn`` also gets
    the loss and its gradient as a function of the params, computed as this step computes them
    (scaled conjugate gradient evaluates it away from the params), and an optimizer whose state
    reports diagnostics (``metrics()``: evaluations, line-search failures) adds them to the
    metrics.

    With a ``mesh`` (a :class:`jax.sharding.Mesh` with a ``"data"`` axis, e.g.
    :func:`~funcnet.train.sharding.data_mesh`) the batch is split over the ``"data"`` devices
    and everything else is replicated; the gradients are all-reduced by XLA. The batch size
    must be divisible by the number of ``"data"`` devices (a ValueError otherwise). Place
    params, state and opt_state with :func:`~funcnet.train.sharding.replicate` once, before
    the first step, so that no step has to copy them onto the mesh.

    ``loss_scale=S`` differentiates ``S·loss`` and divides the gradients by ``S`` before the
    optimizer sees them: with float16 compute (funcnet/train/precision.py) it keeps small
    cotangents from underflowing. Wrap the optimizer in ``optax.apply_if_finite`` to skip the
    steps where ``S`` made them overflow. The reported loss is unscaled. With an optimizer built
    by :func:`~funcnet.train.loss_scale.dynamic_loss_scale` (and ``loss_scale=None``) the step
    multiplies the loss by the scale held in ``opt_state``, the wrapper unscales the gradients
    and adapts the scale, and the metrics add ``loss_scale``, the scale this step used.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from funcnet.layers import dense
      >>> from funcnet.losses import mean_squared_error
      >>> model, opt = dense(1), optax.sgd(0.1)
      >>> _, params, state = model.init(jax.random.key(0), (4, 2))
      >>> step = make_train_step(model, mean_squared_error(), opt)
      >>> batch = (jnp.ones((4, 2)), jnp.zeros((4, 1)))
      >>> params, state, _, metrics = step(params, state, opt.init(params), batch, None)
      >>> sorted(metrics)
      ['grad_norm', 'loss']
    """
    check_backward(backward, "make_train_step")
    check_loss_scale(loss_scale)
    check_choice(nonfinite, NONFINITE_MODES, "nonfinite", "make_train_step")
    if not isinstance(full_batch, bool):
        raise TypeError(f"make_train_step: expected full_batch to be a bool, got {full_batch!r}.")
    loss_fn = batch_loss_fn(model, loss, backward, train=True)
    wanted = extra_arg_names(optimizer)

    def objective(params, state, batch, key, scale):
        value, aux = loss_fn(params, state, batch, key)
        return (value if scale is None else value * scale), (value, aux)

    grad_fn = jax.grad(objective, has_aux=True)

    def gradients(params, state, opt_state, batch, key, scale, value_fn):
        """``(grads, loss, new_state, y)``; from the optimizer state where it holds them."""
        if not (full_batch and scale is None and stores_value_and_grad(opt_state)):
            return _flat(grad_fn(params, state, batch, key, scale))
        value, grads = optax.value_and_grad_from_state(value_fn)(params, state=opt_state)
        y, new_state = model.apply(params, state, batch[0], key=key, train=True,
                                   backward=backward)  # fmt: skip
        return grads, value, new_state, y

    def step(params, state, opt_state, batch, key):
        dynamic = dynamic_scale(opt_state, loss_scale)  # the wrapper unscales the gradients
        scale = loss_scale if dynamic is None else dynamic
        value_fn = lambda p: loss_fn(p, state, batch, key)[0]  # noqa: E731  (line searches)
        grads, loss_value, new_state, y = gradients(
            params, state, opt_state, batch, key, scale, value_fn
        )
        if loss_scale is not None:
            grads = jax.tree.map(lambda g: g / loss_scale, grads)

        def value_and_grad_fn(p):  # the loss and its unscaled gradient at p, as computed above
            grads_p, value_p, _, _ = _flat(grad_fn(p, state, batch, key, scale))
            if scale is not None:
                grads_p = jax.tree.map(lambda g: g / scale, grads_p)
            return value_p, grads_p

        extra = extra_args(wanted, loss_value, grads, value_fn, value_and_grad_fn)
        updates, new_opt_state = optimizer.update(grads, opt_state, params, **extra)
        new_params = optax.apply_updates(params, updates)
        metrics = batch_metrics(loss_value, y, batch[1])
        metrics.update(optimizer_metrics(new_opt_state))
        metrics["grad_norm"] = optax.tree.norm(grads)
        if dynamic is not None:
            metrics["grad_norm"] = metrics["grad_norm"] / dynamic
            metrics["loss_scale"] = dynamic
        if nonfinite != "apply":
            finite = finite_step(loss_value, metrics["grad_norm"], opt_state)
            metrics["nonfinite"] = (~finite).astype(jnp.float32)
            if nonfinite == "skip":
                new = (new_params, new_state, new_opt_state)
                new_params, new_state, new_opt_state = keep_unless(
                    finite, new, (params, state, opt_state)
                )
        return new_params, new_state, new_opt_state, metrics

    return jit_train_step(step, donate=donate, mesh=mesh, where="make_train_step")


def _flat(result: Any) -> tuple[Any, Any, Any, Any]:
    grads, (loss_value, (state, y)) = result
    return grads, loss_value, state, y


def jit_train_step(step: TrainStep, *, donate: bool, mesh: Mesh | None, where: str) -> TrainStep:
    """``jax.jit`` a ``(params, state, opt_state, batch, key)`` step, donating the first three
    when ``donate``, and data parallel over ``mesh`` when one is given."""
    carried = ("params", "state", "opt_state")
    return DonatingStep(
        _jit_step(step, (0, 1, 2) if donate else (), mesh, where), where,
        names=(*carried, "batch", "key"), carried=carried, donated=carried if donate else (),
        fix="Pass the params, state and opt_state the previous call returned, or build the "
        "step with donate=False.",
    )  # fmt: skip


def _jit_step(step: TrainStep, donate_argnums: tuple[int, ...], mesh: Mesh | None, where: str):
    if mesh is None:
        return jax.jit(step, donate_argnums=donate_argnums)
    return jit_data_parallel(
        step, mesh, num_args=5, batch_argnum=3, donate_argnums=donate_argnums, where=where
    )


def make_eval_step(
    model: Layer, loss: Op, *, mesh: Mesh | None = None
) -> Callable[[Any, Any, Batch], Metrics]:
    """A jitted ``(params, state, batch) -> metrics`` in evaluation mode (``train=False``);
    data parallel over ``mesh`` as in :func:`make_train_step`."""

    def step(params, state, batch):
        x, t = batch
        y, _ = model.apply(params, state, x, train=False)
        return batch_metrics(loss(y, t), y, t)

    if mesh is None:
        return jax.jit(step)
    return jit_data_parallel(step, mesh, num_args=3, batch_argnum=2, where="make_eval_step")
