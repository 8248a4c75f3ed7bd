"""Verify a whole model: parameter gradients of ``loss(model(x), t)``, leaf by leaf.

Parameters, state and batch are promoted to float64, and the model and its loss are
differentiated twice — through the hand-written backward of every op (``backward="manual"``)
and by JAX autodiff of the reference forwards — and each gradient leaf is also checked against
central finite differences along a random unit direction. ``state`` is held fixed (running
statistics are not differentiated).

A model that computes in a lower precision whatever its parameters' dtype (``mixed_precision``
casts them to its compute dtype) is verified in that dtype, as the op checks verify an op in
it: its *compute dtype* is the narrowest floating dtype its loss computes with, the report is
labelled with it, and its tolerances apply. In bfloat16/float16 the oracle is the same model
computed in float64 (its casts widened, :func:`funcnet.layers.cast.casts_in_float64`), and a
leaf may be as inexact as autodiff itself is in that dtype (tolerances.py); finite differences
are taken of the float64 model.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.core.intended_gradient import surrogates_called
from funcnet.core.layer import Layer
from funcnet.core.op import Op
from funcnet.layers.cast import casts_in_float64
from funcnet.verify.case_context import LOW_PRECISION_SLACK
from funcnet.verify.finite_differences import (
    central_difference_at,
    directional_error,
    rounding_noise,
)
from funcnet.verify.oracle import reference_jit
from funcnet.verify.report import CaseReport, LeafError, Report, leaf_error
from funcnet.verify.sampling import generators, to_float64
from funcnet.verify.tolerances import FD_NOISE_SIGMAS, FD_STEP, is_low_precision, tolerances


def model_loss(model: Layer, loss: Op, *, key: jax.Array | None = None, train: bool = False) -> Any:
    """``(params, state, x, t, backward) -> scalar loss`` of ``model`` under ``loss``."""

    def fn(params, state, x, t, backward):
        y, _ = model.apply(params, state, x, key=key, train=train, backward=backward)
        if _is_floating(t) and _is_floating(y) and t.dtype != y.dtype:
            t = t.astype(y.dtype)  # a model with its own output dtype (mixed precision)
        return loss(y, t, backward=backward)

    return fn


def _is_floating(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating)


def compute_dtype(fn: Any, *args: Any) -> jnp.dtype:
    """The narrowest floating dtype of any value ``fn(*args)`` computes (traced, not run)."""
    found: set[jnp.dtype] = set()

    def visit(jaxpr: Any) -> None:
        for eqn in jaxpr.eqns:
            for v in eqn.outvars:
                dtype = getattr(v.aval, "dtype", None)
                if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
                    found.add(jnp.dtype(dtype))
            for param in eqn.params.values():
                for sub in param if isinstance(param, (tuple, list)) else (param,):
                    inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds a Jaxpr
                    if hasattr(inner, "eqns"):
                        visit(inner)

    visit(jax.make_jaxpr(fn)(*args).jaxpr)
    return min(found, key=lambda d: jnp.finfo(d).bits, default=jnp.dtype(jnp.float64))


def _check_model(model, params, state, batch, loss, key, train, seed) -> tuple[str, list, str]:
    params, state, (x, t) = to_float64(params), to_float64(state), to_float64(batch)
    fn = model_loss(model, loss, key=key, train=train)
    manual, autodiff = partial(fn, backward="manual"), partial(fn, backward="autodiff")
    with surrogates_called() as surrogates:
        dtype = compute_dtype(manual, params, state, x, t)
    tol, low = tolerances(dtype), is_low_precision(dtype)
    args = (params, state, x, t)
    loss_manual, g_manual = jax.jit(jax.value_and_grad(manual))(*args)
    loss_ref, g_ref = reference_jit(jax.value_and_grad(autodiff))(*args)
    exactly = casts_in_float64 if dtype != jnp.float64 else contextlib.nullcontext
    if dtype == jnp.float64:  # the oracle is the model itself: no second compilation
        loss_exact, g_exact = loss_ref, g_ref
    else:
        with exactly():  # the oracle: the same model computed in float64
            loss_exact, g_exact = reference_jit(jax.value_and_grad(autodiff))(*args)

    def tolerance(base: float, actual_ref: Any, exact: Any) -> float:
        # in bfloat16/float16 a leaf may be as inexact as autodiff is in that dtype (slack 4)
        own = leaf_error("", "", actual_ref, exact, 0.0).max_rel_err if low else 0.0
        return max(base, LOW_PRECISION_SLACK * own)

    # below float32 the manual gradient is held to the float64 oracle; otherwise, as the op
    # checks do, to autodiff in the same dtype
    oracle_loss, oracle = (loss_exact, g_exact) if low else (loss_ref, g_ref)
    forward_tol = tolerance(tol.transforms, loss_ref, loss_exact)
    errors = [leaf_error("forward", "loss", loss_manual, oracle_loss, forward_tol)]
    leaves_manual, treedef = jax.tree_util.tree_flatten_with_path(g_manual)
    autodiff_tol = []
    for (path, gm), go, gr, ge in zip(
        leaves_manual, *(jax.tree.leaves(g) for g in (oracle, g_ref, g_exact)), strict=True
    ):
        autodiff_tol.append(tolerance(tol.autodiff, gr, ge))
        errors.append(leaf_error("autodiff", jax.tree_util.keystr(path), gm, go, autodiff_tol[-1]))
    # in bfloat16/float16 a leaf's finite differences get its autodiff tolerance, if larger
    fd_tol = [max(tol.finite_differences, a if low else 0.0) for a in autodiff_tol]
    if surrogates:  # the gradient is intended, not the loss's derivative: nothing to difference
        return dtype.name, errors, ", ".join(sorted(surrogates))
    with exactly():
        errors += _finite_differences(autodiff, args, leaves_manual, treedef, fd_tol, tol, seed)
    return dtype.name, errors, ""


def _finite_differences(reference_fn, args, leaves_manual, treedef, fd_tol, tol, seed):
    """Per leaf, ``⟨g, u⟩`` against central differences of the (float64) loss along ``u``,
    with a floor from the loss's measured rounding noise (tolerances.py)."""
    params, rest = args[0], args[1:]
    reference = reference_jit(reference_fn)
    leaves_params = [np.asarray(p) for p in jax.tree.leaves(params)]
    (rng,) = generators(seed, 1)
    errors: list[LeafError] = []
    for i, ((path, gm), p) in enumerate(zip(leaves_manual, leaves_params, strict=True)):
        u = rng.standard_normal(p.shape)
        u /= np.linalg.norm(u)
        h = FD_STEP * max(1.0, float(np.max(np.abs(p))))

        def along(s: float, i: int = i, p: np.ndarray = p, u: np.ndarray = u) -> float:
            moved = [p + s * u if j == i else q for j, q in enumerate(leaves_params)]
            return float(reference(jax.tree.unflatten(treedef, moved), *rest))

        estimate = central_difference_at(along, h)
        noise = FD_NOISE_SIGMAS * rounding_noise(along, estimate.step) / estimate.step
        g = np.asarray(gm, np.float64)
        errors.append(
            directional_error(
                "finite_differences",
                jax.tree_util.keystr(path),
                float(np.vdot(g, u)),
                estimate.value,
                float(np.linalg.norm(g)),
                fd_tol[i],
                tol.fd_floor,
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
      A :class:`Report` with one case whose errors are listed per parameter leaf path,
      labelled with the dtype the model computes in (float64 unless it casts lower, as a
      ``mixed_precision`` model does). A model that calls an op with an intended gradient
      (straight-through, surrogate) is held to autodiff of the gradient references; finite
      differences of its loss do not apply, which the report notes, naming those ops.
    """
    label = name or model.name
    with jax.enable_x64(True):
        try:
            dtype, errors, surrogates = _check_model(
                model, params, state, batch, loss, key, train, seed
            )
        except Exception as e:  # report, do not hide, whatever broke
            crash = f"{type(e).__name__}: {e}"
            return Report((CaseReport(label, "model", "float64", (), crash, seed=seed),))
    if not surrogates:
        return Report((CaseReport(label, "model", dtype, tuple(errors), seed=seed),))
    # a model with intended gradients is held to autodiff of its gradient references only
    gradient = f"surrogate: the intended gradients of {surrogates}"
    note = f"finite differences do not apply: the loss's gradient runs through {surrogates}"
    case = CaseReport(label, "model", dtype, tuple(errors), None, gradient, (note,), seed)
    return Report((case,))
