"""How well the synthetic gradients agree with the true ones, interface by interface.

The true gradient at ``h_k`` is backprop's through every module above (no synthetic gradient
anywhere), per example (the batch-mean loss's gradient times ``B``, the scale ``ĝ`` predicts).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.dni.model import DecoupledModel, DecoupledParams, apply_module, predict_gradient


def true_and_synthetic_gradients(
    model: DecoupledModel, params: DecoupledParams, x: jax.Array, labels: jax.Array
) -> tuple[list[jax.Array], list[jax.Array]]:
    """``(true, synthetic)``: per interface, ``∂loss_b/∂h_k`` by backprop and ``ĝ_k``.

    Shapes:
      x: ``[B, n_in]``, labels: ``[B]`` -> two lists of ``[B, n_k]``, one entry per interface.
    """
    num = len(model.predictors)

    def loss_with_offsets(offsets):
        h, hs = x, []
        for k in range(len(model.modules)):
            h = apply_module(model, k, params.modules[k], h)
            if k < num:
                h = h + offsets[k]
                hs.append(h)
        return model.loss(h, labels), hs

    _, shapes = jax.eval_shape(loss_with_offsets, [0.0] * num)
    zeros = [jnp.zeros(s.shape, s.dtype) for s in shapes]
    true, hs = jax.grad(loss_with_offsets, has_aux=True)(zeros)
    synthetic = [predict_gradient(model, k, params.predictors[k], hs[k], labels, "manual")
                 for k in range(num)]  # fmt: skip
    return [t * x.shape[0] for t in true], synthetic


def gradient_cosines(
    model: DecoupledModel, params: DecoupledParams, x: jax.Array, labels: jax.Array
) -> list[float]:
    """Per interface, the cosine between the synthetic and the true gradients over the batch
    (both flattened; 0 while a predictor still predicts exactly zero)."""
    true, synthetic = true_and_synthetic_gradients(model, params, x, labels)
    cosines = []
    for t, s in zip(true, synthetic, strict=True):
        norm = jnp.linalg.norm(t) * jnp.linalg.norm(s)
        cosines.append(float(jnp.where(norm > 0, jnp.vdot(t, s) / jnp.where(norm > 0, norm, 1), 0)))
    return cosines
