"""Truncated BPTT with a synthetic gradient at each truncation boundary (Jaderberg et al. 2017).

A sequence runs in chunks of ``k`` steps; the state carried from one chunk to the next is held
fixed, so no gradient crosses a boundary (truncated BPTT). With DNI, the chunk's final state
``s`` goes through the decoupling interface with ``ĝ``, the predicted per-example gradient of
the future's loss at ``s``: the only cotangent reaching ``s`` is ``dz ĝ = ĝ/B``, so ``ĝ`` is the
initial adjoint (``d_final``) of the recurrent op's reverse scan. What arrives at the chunk's
initial state ``s0``, times ``B``, is the *bootstrapped* target: the true gradient within the
chunk plus ``ĝ`` carried back through it. The predictor regresses ``M(s0)`` (the prediction
made at the end of the previous chunk) onto it.

With ``ĝ = 0`` (a zero-initialised predictor) this is plain truncated BPTT, the sequence op with
``truncate=k``; with ``ĝ`` the true future gradient it is full BPTT (tests/dni/test_recurrent.py).
Derivation: docs/dni.md.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from funcnet.core.layer import Layer
from funcnet.dni.interface import decoupling_interface_op

NAME = "chunk_gradients"
ChunkLoss = Callable[[Any, Any, Any], tuple[jax.Array, Any]]


class ChunkGradients(NamedTuple):
    """What one chunk's backward gives."""

    loss: jax.Array  # the chunk's task loss (the synthetic loss is identically 0)
    grads: Any  # of the parameters: the chunk's own gradient plus ĝ carried back
    target: Any  # B · ∂/∂s0, shaped like the state: the bootstrapped gradient at s0
    state: Any  # the final state, held fixed: the next chunk's initial state


def _shapes(tree: Any) -> Any:
    return jax.tree.map(jnp.shape, tree)


def flatten_state(state: Any) -> jax.Array:
    """The parts of a state (``[..., H_i]`` each, e.g. ``LSTMState(h, c)``) side by side."""
    return jnp.concatenate(jax.tree.leaves(state), axis=-1)


def unflatten_state(flat: jax.Array, like: Any) -> Any:
    """``flat [..., ΣH_i]`` split back into the structure of the state ``like``."""
    leaves, tree = jax.tree.flatten(like)
    cuts = list(itertools.accumulate(jnp.shape(a)[-1] for a in leaves))[:-1]
    return jax.tree.unflatten(tree, jnp.split(flat, cuts, axis=-1))


def _check_synthetic(final: Any, synthetic: Any) -> None:
    same_tree = jax.tree.structure(final) == jax.tree.structure(synthetic)
    if not same_tree or _shapes(final) != _shapes(synthetic):
        raise ValueError(
            f"{NAME}: expected a synthetic gradient shaped like the final state "
            f"{_shapes(final)}, got {_shapes(synthetic)}."
        )


def chunk_gradients(
    chunk_loss: ChunkLoss, params: Any, state0: Any, inputs: Any, synthetic: Any = None
) -> ChunkGradients:
    """One chunk of truncated BPTT, its reverse scan seeded with the synthetic gradient.

    Args:
      chunk_loss: ``(params, state0, inputs) -> (loss, final_state)``: the chunk's forward;
        ``loss`` a scalar, the mean over the ``B`` examples of a per-example loss.
      params: the network's parameters.
      state0: the initial state (a pytree of ``[..., H_i]``), held fixed (no gradient
        reaches the previous chunk).
      inputs: the chunk's data, passed to ``chunk_loss``.
      synthetic: ``ĝ`` shaped like the final state, the predicted per-example gradient of the
        future's loss there, or a function ``final_state -> ĝ`` (a predictor; it sees the
        state held fixed); ``None``: nothing follows, the adjoint starts at zero.

    Shapes:
      each state part: ``[..., H_i]`` (``B`` examples) -> target: like ``state0``.

    Examples:
      >>> import jax.numpy as jnp
      >>> def chunk_loss(w, s0, x):  # a linear recurrence s' = w s + x, loss mean(s')
      ...     s = w * s0 + x
      ...     return jnp.mean(s), s
      >>> out = chunk_gradients(chunk_loss, 2.0, jnp.ones((2, 1)), jnp.zeros((2, 1)),
      ...                       synthetic=jnp.full((2, 1), 3.0))
      >>> float(out.grads), out.target.tolist()  # d/dw = mean((1 + 3) s0); d s0 = (1 + 3) w
      (4.0, [[8.0], [8.0]])
    """
    interface = decoupling_interface_op(0.0)

    def objective(params, state0):
        loss, final = chunk_loss(params, state0, inputs)
        if jnp.ndim(loss) != 0:
            raise ValueError(f"{NAME}: expected chunk_loss to return a scalar loss, got shape "
                             f"{jnp.shape(loss)}.")  # fmt: skip
        if synthetic is None:
            return loss, (loss, final)
        g_hat = synthetic(lax.stop_gradient(final)) if callable(synthetic) else synthetic
        _check_synthetic(final, g_hat)
        g_hat = lax.stop_gradient(flatten_state(g_hat))
        _, z = interface(flatten_state(final), g_hat)  # dz = 1/B: d_final = ĝ/B
        return loss + jnp.mean(z), (loss, final)

    grad = jax.value_and_grad(objective, (0, 1), has_aux=True)
    (_, (loss, final)), (grads, d_state0) = grad(params, lax.stop_gradient(state0))
    examples = math.prod(jnp.shape(jax.tree.leaves(state0)[0])[:-1])
    target = jax.tree.map(lambda d: d * examples, d_state0)
    return ChunkGradients(loss, grads, target, lax.stop_gradient(final))


def predict_synthetic(predictor: Layer, predictor_params: Any, state: Any) -> Any:
    """``ĝ = M(s)``, shaped like ``state`` (the predictor reads the flattened, fixed state)."""
    flat = lax.stop_gradient(flatten_state(state))
    return unflatten_state(predictor.apply(predictor_params, (), flat)[0], state)


def regression_loss(predictor: Layer, predictor_params: Any, state: Any, target: Any) -> Any:
    """``mean_b ½‖M(s) − t‖²``: the predictor's regression onto the (bootstrapped) target."""
    error = flatten_state(predict_synthetic(predictor, predictor_params, state))
    error = error - lax.stop_gradient(flatten_state(target))
    return 0.5 * jnp.mean(jnp.sum(error * error, axis=-1))


class SyntheticBPTTState(NamedTuple):
    """The network's and the predictor's parameters, each with its own optimizer state."""

    params: Any
    opt_state: Any
    predictor_params: Any
    predictor_opt_state: Any


def init_synthetic_bptt(
    params: Any,
    predictor_params: Any,
    optimizer: optax.GradientTransformation,
    predictor_optimizer: optax.GradientTransformation | None = None,
) -> SyntheticBPTTState:
    """Fresh optimizer states for the network and its predictor."""
    predictor_optimizer = predictor_optimizer or optimizer
    return SyntheticBPTTState(params, optimizer.init(params), predictor_params,
                              predictor_optimizer.init(predictor_params))  # fmt: skip


def make_synthetic_bptt_step(
    chunk_loss: ChunkLoss,
    predictor: Layer,
    optimizer: optax.GradientTransformation,
    predictor_optimizer: optax.GradientTransformation | None = None,
):
    """The compiled training step on one chunk, as in the paper: the network updates from its
    gradient seeded with ``ĝ = M(s)`` at the final state, the predictor from the regression of
    ``M(s0)`` onto the bootstrapped target at the initial state.

    Returns:
      ``(train_state, state0, inputs, *, synthetic, regress) -> (train_state, final_state,
      loss)``; ``synthetic=False`` for a sequence's last chunk (nothing follows it),
      ``regress=False`` for its first (no prediction was made at its initial state).

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from funcnet.dni import gradient_predictor
      >>> def chunk_loss(w, s0, x):  # s' = w s + x, loss mean(s'²)/2
      ...     s = w * s0 + x
      ...     return 0.5 * jnp.mean(s * s), s
      >>> m = gradient_predictor(1)
      >>> q = m.init(jax.random.key(0), (2, 1))[1]
      >>> step = make_synthetic_bptt_step(chunk_loss, m, optax.sgd(0.1))
      >>> train = init_synthetic_bptt(jnp.float32(1.0), q, optax.sgd(0.1))
      >>> ones = jnp.ones((2, 1))
      >>> train, s, loss = step(train, ones, ones, synthetic=True, regress=True)
      >>> float(loss), s.tolist()
      (2.0, [[2.0], [2.0]])
      >>> float(train.params)  # w − 0.1 mean(s s0): ĝ = M(s) is still 0
      0.8
      >>> # M regressed onto the target at s0 (= w s = 2): M(s) = 0.1·2·s + 0.1·2
      >>> round(float(predict_synthetic(m, train.predictor_params, s)[0, 0]), 4)
      0.6
    """
    predictor_optimizer = predictor_optimizer or optimizer

    @functools.partial(jax.jit, static_argnames=("synthetic", "regress"))
    def step(train, state0, inputs, *, synthetic: bool, regress: bool):
        params, opt_state, q, q_opt = train
        g_hat = functools.partial(predict_synthetic, predictor, q) if synthetic else None
        out = chunk_gradients(chunk_loss, params, state0, inputs, g_hat)
        updates, opt_state = optimizer.update(out.grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if regress:
            q_grads = jax.grad(regression_loss, 1)(predictor, q, state0, out.target)
            q_updates, q_opt = predictor_optimizer.update(q_grads, q_opt, q)
            q = optax.apply_updates(q, q_updates)
        return SyntheticBPTTState(params, opt_state, q, q_opt), out.state, out.loss

    return step
