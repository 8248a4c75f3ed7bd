"""Curvature of a scalar loss through funcnet models: Hessian–vector products, Hutchinson's
trace estimator and the top Hessian eigenvalue by power iteration.

Every function takes ``fn(params) -> scalar`` and differentiates it forward-over-reverse:
``H v = ∂/∂t ∇f(p + t v)`` at ``t = 0``, one JVP of the gradient, about the cost of two
gradients and the memory of one. Every ``backward`` of a model inside ``fn`` admits it:

* ``"manual_jvp"``: the gradient is JAX's transpose of the hand-written JVPs, and its JVP
  differentiates that forward;
* ``"manual"`` (the default): the gradient runs the hand-written backward, and the outer JVP
  differentiates the backward's own code forward (a custom VJP admits forward mode *of its
  gradient*, though not of its value: ``jax.jvp(fn)`` itself raises
  :class:`~funcnet.core.ForwardModeError`);
* ``"autodiff"``: JAX's derivatives of the reference forwards.

``funcnet bench hvp`` compares them (and reverse-over-reverse); docs/forward_mode.md
("Curvature").

Random vectors come from ``key`` with :func:`optax.tree_utils.tree_random_like`, shaped and
typed like ``params``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax.tree_utils as otu

Params = Any


def hessian_vector_product(fn: Callable[[Params], jax.Array], params: Params, vector: Params):
    """``H v`` for the Hessian ``H`` of ``fn`` at ``params``, forward-over-reverse.

    Shapes:
      ``vector`` and the result have ``params``' tree structure, shapes and dtypes.

    Examples:
      >>> import jax.numpy as jnp
      >>> a = jnp.array([[2.0, 1.0], [1.0, 3.0]])
      >>> hessian_vector_product(lambda p: 0.5 * p @ a @ p, jnp.ones(2), jnp.array([1.0, 0.0]))
      Array([2., 1.], dtype=float32)
    """
    _check_like(params, vector)
    return jax.jvp(jax.grad(fn), (params,), (vector,))[1]


class TraceEstimate(NamedTuple):
    """Hutchinson's estimate of ``tr(H)``: the mean of ``vᵀ H v`` over Rademacher vectors and
    its standard error (sample standard deviation / √samples; 0 for one sample)."""

    trace: jax.Array
    standard_error: jax.Array
    samples: jax.Array  # every vᵀ H v, shape [num_samples]


def hutchinson_trace(
    fn: Callable[[Params], jax.Array], params: Params, key: jax.Array, num_samples: int = 16
) -> TraceEstimate:
    """Estimate ``tr(H)`` as the mean of ``vᵀ H v`` over ``num_samples`` Rademacher ``v``
    (``E[v vᵀ] = I``), one Hessian–vector product each, run one after another (lax.map) so that
    memory stays at one product's.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> f = lambda p: jnp.sum(jnp.array([1.0, 2.0, 3.0]) * p**2)  # H = diag(2, 4, 6)
      >>> float(hutchinson_trace(f, jnp.zeros(3), jax.random.key(0), 4).trace)
      12.0
    """
    num_samples = _positive_int("hutchinson_trace", "num_samples", num_samples)

    def quadratic_form(k: jax.Array) -> jax.Array:
        v = otu.tree_random_like(k, params, jax.random.rademacher)
        return otu.tree_vdot(v, hessian_vector_product(fn, params, v))

    samples = jax.lax.map(quadratic_form, jax.random.split(key, num_samples))
    spread = jnp.std(samples, ddof=1) if num_samples > 1 else jnp.zeros_like(samples[0])
    return TraceEstimate(jnp.mean(samples), spread / jnp.sqrt(num_samples), samples)


class Eigenpair(NamedTuple):
    """The Rayleigh quotient ``vᵀ H v`` of the last power-iteration vector ``v`` (unit norm),
    and the residual ``‖H v − λ v‖`` that says how far it is from an eigenpair."""

    eigenvalue: jax.Array
    vector: Params
    residual: jax.Array


def top_hessian_eigenvalue(
    fn: Callable[[Params], jax.Array], params: Params, key: jax.Array, num_iterations: int = 20
) -> Eigenpair:
    """The Hessian's eigenvalue of largest magnitude by power iteration (``v ← H v / ‖H v‖``
    from a random normal ``v``), ``num_iterations`` Hessian–vector products plus one for the
    residual; convergence goes as ``|λ₂/λ₁|^k``, so check ``residual``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> f = lambda p: jnp.sum(jnp.array([1.0, 5.0, 2.0]) * p**2)  # H = diag(2, 10, 4)
      >>> round(float(top_hessian_eigenvalue(f, jnp.ones(3), jax.random.key(0)).eigenvalue), 3)
      10.0
    """
    num_iterations = _positive_int("top_hessian_eigenvalue", "num_iterations", num_iterations)

    def normalised(v: Params) -> Params:
        return otu.tree_scale(1.0 / otu.tree_norm(v), v)

    def step(_, v: Params) -> Params:
        return normalised(hessian_vector_product(fn, params, v))

    v = jax.lax.fori_loop(0, num_iterations, step, normalised(otu.tree_random_like(key, params)))
    hv = hessian_vector_product(fn, params, v)
    eigenvalue = otu.tree_vdot(v, hv)
    return Eigenpair(eigenvalue, v, otu.tree_norm(otu.tree_add_scale(hv, -eigenvalue, v)))


def _positive_int(where: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: expected {what} to be a positive int, got {value!r}.")
    return int(value)


def _check_like(params: Params, vector: Params) -> None:
    def layout(tree: Any) -> tuple:
        return jax.tree.structure(tree), [jnp.shape(leaf) for leaf in jax.tree.leaves(tree)]

    if layout(vector) != layout(params):
        raise ValueError(
            "hessian_vector_product: expected a vector shaped like params "
            f"{layout(params)}, got {layout(vector)}."
        )
