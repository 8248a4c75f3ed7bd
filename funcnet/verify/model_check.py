"""Verify a whole model: parameter gradients of ``loss(model(x), t)``, leaf by leaf.

The model and its loss are differentiated twice — once through the hand-written backward of
every op (``backward="manual"``), once by JAX autodiff of the reference forwards — in float64,
and each gradient leaf is also checked against central finite differences along a random unit
direction. ``state`` is held fixed (running statistics are not differentiated).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer
from funcnet.core.op import Op
from funcnet.verify.finite_differences import (
    central_difference_at,
    directional_error,
    rounding_noise,
)
from funcnet.verify.oracle import reference_jit
from funcnet.verify.report import CaseReport, LeafError, Report, leaf_error
from funcnet.verify.sampling import generators, random_like, to_float64
from funcnet.verify.tolerances import FD_NOISE_SIGMAS, FD_STEP, tolerances


def model_loss(model: Layer, loss: Op, *, key: jax.Array | None = None, train: bool = False) -> Any:
    """``(params, state, x, t, backward) -> scalar loss`` of ``model`` under ``loss``."""

    def fn(params, state, x, t, backward):
        y, _ = model.apply(params, state, x, key=key, train=train, backward=backward)
        return loss(y, t, backward=backward)

    return fn


def _check_model(model, params, state, batch, loss, key, train, seed) -> list[LeafError]:
    tol = tolerances(jnp.float64)
    params, state, (x, t) = to_float64(params), to_float64(state), to_float64(batch)
    fn = model_loss(model, loss, key=key, train=train)
    loss_manual, g_manual = jax.jit(jax.value_and_grad(partial(fn, backward="manual")))(
        params, state, x, t
    )
    loss_ref, g_ref = reference_jit(jax.value_and_grad(partial(fn, backward="autodiff")))(
        params, state, x, t
    )
    errors = [leaf_error("forward", "loss", loss_manual, loss_ref, tol.transforms)]

    leaves_manual, treedef = jax.tree_util.tree_flatten_with_path(g_manual)
    leaves_ref = jax.tree.leaves(g_ref)
    leaves_params = jax.tree.leaves(params)
    for (path, gm), gr in zip(leaves_manual, leaves_ref, strict=True):
        errors.append(leaf_error("autodiff", jax.tree_util.keystr(path), gm, gr, tol.autodiff))

    reference = reference_jit(partial(fn, backward="autodiff"))
    (rng,) = generators(seed, 1)
    for i, ((path, gm), p) in enumerate(zip(leaves_manual, leaves_params, strict=True)):
        u = random_like(rng, p)
        u = u / jnp.linalg.norm(u)
        h = FD_STEP * max(1.0, float(jnp.max(jnp.abs(p))))

        def along(s: float, i: int = i, u: jax.Array = u) -> jax.Array:
            moved = [q + s * u if j == i else q for j, q in enumerate(leaves_params)]
            return reference(jax.tree.unflatten(treedef, moved), state, x, t)

        estimate = central_difference_at(along, h)
        noise = FD_NOISE_SIGMAS * rounding_noise(along, estimate.step) / estimate.step
        errors.append(
            directional_error(
                "finite_differences",
                jax.tree_util.keystr(path),
                float(jnp.vdot(gm, u)),
                estimate.value,
                float(jnp.linalg.norm(gm)),
                tol.finite_differences,
                noise=noise,
            )
        )
    return errors


def verify_model(
    model: Layer,
    params: Any,
    state: Any,
    batch: tuple[Any, Any],
    loss: Op,
    *,
    key: jax.Array | None = None,
    train: bool = False,
    seed: int = 0,
    name: str | None = None,
) -> Report:
    """Check a model's manual parameter gradients against autodiff and finite differences.

    Args:
      model: the layer (a model is a layer) to check.
      params, state: its parameters and state; floating leaves are promoted to float64.
      batch: ``(x, t)``, the input and the loss target.
      loss: a loss op, called as ``loss(y, t, backward=...)``.
      key, train: passed to ``model.apply`` (a fixed key makes dropout deterministic).
      seed: seeds the finite-difference directions.
      name: the name the report uses (the model's own name by default).

    Returns:
      A :class:`Report` with one case whose errors are listed per parameter leaf path.
    """
    label = name or model.name
    with jax.enable_x64(True):
        try:
            errors = _check_model(model, params, state, batch, loss, key, train, seed)
        except Exception as e:  # report, do not hide, whatever broke
            return Report((CaseReport(label, "model", "float64", (), f"{type(e).__name__}: {e}"),))
    return Report((CaseReport(label, "model", "float64", tuple(errors)),))
