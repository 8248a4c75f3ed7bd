"""Optimizers for latent binary weights, as optax transformations (docs/binary.md).

* :func:`clip_latent_weights` — BinaryConnect (Courbariaux et al. 2015): after each update the
  latent weights are clipped to ``[−limit, limit]``, so that a weight far past the sign's
  straight-through range can still flip back. A transformation that turns the update ``u`` of
  a latent weight ``w`` into ``clip(w + u) − w``; chain it after any optimizer.
* :func:`bop` — Bop (Helwegen et al. 2019, "Latent weights do not exist"): no latent weights at
  all; an exponential moving average ``m ← (1 − γ) m + γ g`` of each binary weight's gradient,
  and the weight flips, ``w ← −w``, when ``|m| > τ`` and ``m`` has ``w``'s sign. Its update is
  ``sign(−sign(w·m − τ) ⊙ w) − w`` (Larq's form: the weights are ±1 after the first step).
  :func:`bop_with` trains the other parameters with a real-valued optimizer.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from funcnet.layers.binary._surrogate import positive_float, sign
from funcnet.layers.binary.layers import latent_weight_mask


def clip_latent_weights(limit: float = 1.0) -> optax.GradientTransformation:
    """Clip every binary layer's latent weights to ``[−limit, limit]`` after the update.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from funcnet.layers.binary import BinaryParams
      >>> params = (BinaryParams(jnp.array([0.9, -0.5]), None), jnp.array([3.0]))
      >>> opt = optax.chain(optax.sgd(1.0), clip_latent_weights())
      >>> updates, _ = opt.update((BinaryParams(jnp.array([-0.5, 0.2]), None), jnp.array([-1.0])),
      ...                         opt.init(params), params)
      >>> optax.apply_updates(params, updates)[0].w, optax.apply_updates(params, updates)[1]
      (Array([ 1. , -0.7], dtype=float32), Array([4.], dtype=float32))
    """
    c = positive_float("clip_latent_weights", "limit", limit)

    def project(updates: Any, params: Any) -> Any:
        if params is None:
            raise ValueError("clip_latent_weights: expected params in update, got None.")
        return jax.tree.map(lambda u, w: jnp.clip(w + u, -c, c) - w, updates, params)

    return optax.masked(optax.stateless(project), latent_weight_mask)


def _flip(threshold: float) -> optax.GradientTransformation:
    """``m -> sign(−sign(w·m − τ) ⊙ w) − w`` (``m`` the moving average of the gradient)."""

    def flip(m: Any, params: Any) -> Any:
        if params is None:
            raise ValueError("bop: expected params in update, got None.")
        return jax.tree.map(lambda m, w: sign(-sign(w * m - threshold) * w) - w, m, params)

    return optax.stateless(flip)


def bop(threshold: float = 1e-8, gamma: float = 1e-4) -> optax.GradientTransformation:
    """Bop on every parameter it is given (see :func:`bop_with` for a model with real ones).

    Args:
      threshold: ``τ``, how large the averaged gradient must be to flip a weight.
      gamma: ``γ``, the moving average's adaptivity rate (``1 − γ`` its decay).
    """
    tau = positive_float("bop", "threshold", threshold)
    g = positive_float("bop", "gamma", gamma)
    if g > 1:
        raise ValueError(f"bop: expected gamma in (0, 1], got {gamma!r}.")
    # optax.ema without debiasing is m ← decay·m + (1 − decay)·g, Bop's average
    return optax.chain(optax.ema(1 - g, debias=False), _flip(tau))


def bop_with(
    real: optax.GradientTransformation, threshold: float = 1e-8, gamma: float = 1e-4
) -> optax.GradientTransformation:
    """Bop on the binary layers' weights, ``real`` on every other parameter.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from funcnet.layers.binary import BinaryParams
      >>> params = (BinaryParams(jnp.array([1.0, -1.0]), None), jnp.array([0.0]))
      >>> opt = bop_with(optax.sgd(1.0), threshold=0.5, gamma=1.0)
      >>> grads = (BinaryParams(jnp.array([0.7, 0.7]), None), jnp.array([2.0]))
      >>> new = optax.apply_updates(params, opt.update(grads, opt.init(params), params)[0])
      >>> new[0].w, new[1]  # the first weight flips: its gradient has its sign, |m| > τ
      (Array([-1., -1.], dtype=float32), Array([-2.], dtype=float32))
    """

    def labels(params: Any) -> Any:
        return jax.tree.map(lambda b: "binary" if b else "real", latent_weight_mask(params))

    return optax.multi_transform({"binary": bop(threshold, gamma), "real": real}, labels)
