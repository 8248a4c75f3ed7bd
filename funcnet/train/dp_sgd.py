"""DP-SGD by ghost clipping: clipped per-example gradients summed, without forming any of them.

``clipped_grad`` returns ``Σᵢ gᵢ · min(1, C/‖gᵢ‖)`` over the examples of a batch (``gᵢ`` the
gradient of the loss on example ``i`` alone, as in :func:`~funcnet.train.per_example_grads`).
One forward pass, then two backward passes from its residuals (``jax.vjp`` called twice):

1. the norms pass: the model runs with ``backward=NormsPass(probe, params)``, so every op with
   parameters adds its per-example squared norms to the cotangent of ``probe``
   (:mod:`funcnet.core.per_example_norms`); the per-example losses get cotangent 1 and XLA
   drops the parameter gradients, which nothing reads;
2. the reweighted pass: cotangent ``cᵢ = min(1, C/‖gᵢ‖)`` on example ``i``'s loss gives
   ``Σ cᵢ gᵢ`` as one ordinary batch backward (and XLA drops the norms).

docs/per_example.md derives the norm of each layer family.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from funcnet.core.layer import Layer
from funcnet.core.op import Op
from funcnet.core.per_example_norms import NormsPass
from funcnet.train.nonfinite import (
    NONFINITE_MODES,
    NonFinite,
    check_choice,
    finite_step,
    keep_unless,
)
from funcnet.train.step import TrainStep, jit_train_step


def _check_clip(value: Any, where: str) -> None:
    """A positive finite number, or a floating scalar array (a clip computed in the step, as in
    adaptive clipping; its value is not known at trace time)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    is_array = not is_number and hasattr(value, "dtype") and jnp.ndim(value) == 0
    if is_array and jnp.issubdtype(value.dtype, jnp.floating):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e300:
        raise ValueError(
            f"{where}: expected l2_clip to be a positive finite number, got {value!r}."
        )


def _clipped_grad_and_aux(model, loss, params, state, batch, l2_clip, key, weights, train):
    """``(Σ wᵢcᵢgᵢ, {"norms": ‖gᵢ‖, "losses": Lᵢ, "y": outputs})`` (see the module docstring)."""
    x, t = batch
    floats = [a for a in jax.tree.leaves(params) if jnp.issubdtype(a.dtype, jnp.floating)]
    probe = jnp.zeros(x.shape[:1], jnp.result_type(*floats))

    def losses_fn(p, probe):
        mode = NormsPass(probe, p)
        y, _ = model.apply(p, state, x, key=key, train=train, backward=mode)
        mode.check_all_used()
        per_example = jax.vmap(lambda yi, ti: loss(yi[None], ti[None]))(y, t)
        return per_example, y

    losses, vjp, y = jax.vjp(losses_fn, params, probe, has_aux=True)
    _, sq_norms = vjp(jnp.ones_like(losses))
    norms = jnp.sqrt(sq_norms)
    factors = jnp.minimum(1.0, l2_clip / norms)  # ‖g‖ = 0 gives C/0 = inf, hence 1
    if weights is not None:
        factors = factors * weights.astype(factors.dtype)
    grads, _ = vjp(jax.lax.stop_gradient(factors).astype(losses.dtype))
    return grads, {"norms": norms, "losses": losses, "y": y}


def clipped_grad(
    model: Layer,
    loss: Op,
    params: Any,
    state: Any,
    batch: tuple[Any, Any],
    l2_clip: float,
    *,
    key: jax.Array | None = None,
    weights: jax.Array | None = None,
    train: bool = True,
) -> tuple[Any, jax.Array]:
    """The sum over examples of each example's gradient clipped to norm ``l2_clip``, by ghost
    clipping (per-example norms from the ops' backward; no per-example gradient is formed).

    Every op that receives a parameter must declare per-example norms (dense, convolutions and
    transposed convolutions, embedding, layer/RMS/group norm, the recurrent layers, ...), and
    each parameter must reach one op; otherwise a trace-time error names the op. Layers whose
    training forward mixes examples (batch norm) are not supported.

    Args:
      model, loss: the model and a loss op (a mean over examples, as all of funcnet's).
      params, state: the model's; ``state`` is read, not updated.
      batch: ``(x, t)``, examples along the first axis.
      l2_clip: the clipping norm ``C`` (a number, or a floating scalar array).
      key: for the model's randomness (one key for the batch).
      weights: optional ``[B]`` factors on each clipped gradient (0 for padding examples).
      train: run the model in training mode.

    Returns:
      ``(Σᵢ wᵢ gᵢ min(1, C/‖gᵢ‖), ‖gᵢ‖ [B])``: a pytree like ``params`` and the unclipped norms.

    Shapes:
      batch: ``x [B, ...]``, ``t [B, ...]``; weights: ``[B]``; norms: ``[B]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from funcnet.layers import dense
      >>> from funcnet.losses import mean_squared_error
      >>> model = dense(2)
      >>> _, params, state = model.init(jax.random.key(0), (5, 3))
      >>> batch = (jnp.ones((5, 3)), jnp.zeros((5, 2)))
      >>> grads, norms = clipped_grad(model, mean_squared_error(), params, state, batch, 1.0)
      >>> grads.w.shape, norms.shape
      ((3, 2), (5,))
    """
    _check_clip(l2_clip, "clipped_grad")
    grads, aux = _clipped_grad_and_aux(model, loss, params, state, batch, l2_clip, key, weights,
                                       train)  # fmt: skip
    return grads, aux["norms"]


NOISE_BLOCK = 32768  # elements of noise drawn at a time


def _add_noise_to_leaf(g: jax.Array, key: jax.Array, std: Any) -> jax.Array:
    """``g + std·N(0, I)``, drawn in blocks of rows of ``g`` inside a loop that updates ``g`` in
    place, so that the random-bit generator's temporaries (several times the noise's size, for
    threefry) are one block's, not the whole parameter's."""
    rows = g.shape[0] if g.ndim else 1
    row_size = g.size // max(rows, 1)
    block = max(d for d in range(1, rows + 1) if rows % d == 0 and d * row_size <= NOISE_BLOCK)
    if g.ndim == 0 or block == rows or row_size > NOISE_BLOCK:
        return g + std * jax.random.normal(key, g.shape, g.dtype)
    blocks = g.reshape(rows // block, block, *g.shape[1:])

    def add(i, blocks):
        noise = jax.random.normal(jax.random.fold_in(key, i), blocks.shape[1:], g.dtype)
        return blocks.at[i].add(std * noise)

    return jax.lax.fori_loop(0, rows // block, add, blocks).reshape(g.shape)


def add_gaussian_noise(grads: Any, key: jax.Array, std: Any) -> Any:
    """``grads + N(0, std² I)``, every leaf with its own key (split from ``key``)."""
    leaves, tree = jax.tree.flatten(grads)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [_add_noise_to_leaf(g, k, std) for g, k in zip(leaves, keys, strict=True)]
    )


def _masked_metrics(losses, y, t, weights):
    """Mean loss (and accuracy, for integer labels) over the examples with nonzero weight."""
    real = jnp.ones_like(losses) if weights is None else (weights != 0).astype(losses.dtype)
    count = jnp.maximum(jnp.sum(real), 1)
    metrics = {"loss": jnp.sum(losses * real) / count}
    if jnp.issubdtype(t.dtype, jnp.integer) and y.ndim == t.ndim + 1:
        hits = jnp.mean(jnp.argmax(y, axis=-1) == t, axis=tuple(range(1, t.ndim)))
        metrics["accuracy"] = jnp.sum(hits * real) / count
    return metrics


def make_dp_sgd_train_step(
    model: Layer,
    loss: Op,
    optimizer: optax.GradientTransformation,
    *,
    l2_clip: float,
    noise_multiplier: float,
    expected_batch_size: int | None = None,
    donate: bool = True,
    nonfinite: NonFinite = "apply",
) -> TrainStep:
    """A jitted DP-SGD ``(params, state, opt_state, batch, key) -> (params, state, opt_state,
    metrics)`` (Abadi et al., 2016), by ghost clipping (:func:`clipped_grad`).

    The gradient handed to ``optimizer`` (any optax transformation, e.g. ``optax.sgd``) is
    ``(Σᵢ clip(gᵢ) + N(0, σ²C²I)) / expected_batch_size``. ``batch`` is ``(x, t)`` or
    ``(x, t, mask)``: with Poisson sampling (what privacy accountants assume) the number of
    examples varies, so batches are padded to a fixed size and ``mask [B]`` marks the real ones
    (:func:`~funcnet.train.privacy.poisson_batches`); ``expected_batch_size`` is then the
    sampling rate times the dataset size (default: ``B``). ``key`` draws the noise (split off
    for the model's randomness) and is required unless ``noise_multiplier`` is 0. Model
    ``state`` passes through unchanged. Metrics: the mean loss (and accuracy) over real examples
    and ``clipped_fraction``. ``nonfinite`` is as in :func:`~funcnet.train.make_train_step`
    (``"flag"`` adds the metric ``nonfinite``; ``"skip"`` also leaves such a step out).

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from funcnet.layers import dense
      >>> from funcnet.losses import mean_squared_error
      >>> model = dense(1)
      >>> _, params, state = model.init(jax.random.key(1), (4, 2))
      >>> sgd = optax.sgd(0.1)
      >>> step = make_dp_sgd_train_step(model, mean_squared_error(), sgd, l2_clip=1.0,
      ...                               noise_multiplier=0.5)
      >>> batch = (jnp.ones((4, 2)), jnp.zeros((4, 1)))
      >>> params, state, _, metrics = step(params, state, sgd.init(params), batch,
      ...                                  jax.random.key(2))
      >>> sorted(metrics)
      ['clipped_fraction', 'loss']
    """
    where = "make_dp_sgd_train_step"
    _check_clip(l2_clip, where)
    check_choice(nonfinite, NONFINITE_MODES, "nonfinite", where)
    if (
        isinstance(noise_multiplier, bool)
        or not isinstance(noise_multiplier, (int, float))
        or (not 0 <= noise_multiplier < 1e300)
    ):
        raise ValueError(
            f"{where}: expected noise_multiplier to be a non-negative finite number, "
            f"got {noise_multiplier!r}."
        )
    if expected_batch_size is not None and not (
        isinstance(expected_batch_size, (int, float)) and expected_batch_size > 0
    ):
        raise ValueError(
            f"{where}: expected expected_batch_size to be None or positive, "
            f"got {expected_batch_size!r}."
        )

    def step(params, state, opt_state, batch, key):
        x, t, *mask = batch
        weights = mask[0] if mask else None
        if key is None and noise_multiplier > 0:
            raise ValueError(f"{where}: expected a key to draw the noise, got None.")
        noise_key, model_key = (None, None) if key is None else jax.random.split(key)
        grads, aux = _clipped_grad_and_aux(
            model, loss, params, state, (x, t), l2_clip, model_key, weights, True
        )
        size = expected_batch_size or x.shape[0]
        if noise_multiplier > 0:
            grads = add_gaussian_noise(grads, noise_key, noise_multiplier * l2_clip)
        grads = jax.tree.map(lambda g: g / size, grads)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        metrics = _masked_metrics(aux["losses"], aux["y"], t, weights)
        if nonfinite != "apply":
            finite = finite_step(metrics["loss"], optax.tree.norm(grads), opt_state)
            metrics["nonfinite"] = (~finite).astype(jnp.float32)
            if nonfinite == "skip":
                new_params, new_opt_state = keep_unless(
                    finite, (new_params, new_opt_state), (params, opt_state)
                )
        params, opt_state = new_params, new_opt_state
        clipped = (aux["norms"] > l2_clip).astype(aux["losses"].dtype)
        metrics["clipped_fraction"] = _masked_metrics(clipped, clipped, clipped, weights)["loss"]
        return params, state, opt_state, metrics

    return jit_train_step(step, donate=donate, mesh=None, where=where)


def dp_sgd_step(model, loss, optimizer, dp, batch_size, backward, mesh, nonfinite) -> TrainStep:
    """The DP-SGD step :func:`~funcnet.train.fit` runs for ``dp``
    (:class:`~funcnet.train.privacy.DPSGD`): ghost clipping needs the manual backward and one
    device."""
    if backward != "manual":
        raise ValueError(
            f"fit: expected backward='manual' with dp (ghost clipping), got {backward!r}."
        )
    if mesh is not None:
        raise ValueError(f"fit: expected mesh=None with dp (one device), got {mesh!r}.")
    return make_dp_sgd_train_step(
        model, loss, optimizer, l2_clip=dp.l2_clip, noise_multiplier=dp.noise_multiplier,
        expected_batch_size=batch_size, nonfinite=nonfinite,
    )  # fmt: skip


__all__ = ["clipped_grad", "dp_sgd_step", "make_dp_sgd_train_step"]
