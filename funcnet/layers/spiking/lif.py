"""Leaky integrate-and-fire layers with surrogate gradients: ``lif`` and recurrent ``rlif``.

Each is the LIF cell (:mod:`~funcnet.layers.spiking.lif_cell`) run by the recurrent machinery's
sequence op (forward ``lax.scan``, hand-written reverse-scan BPTT), so masks, ``reverse``,
``truncate`` and initial states work as for ``rnn``. The op's gradient is the surrogate one,
registered with its gradient reference. Derivation: docs/spiking.md.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from funcnet.core.layer import Layer, check_option_applies
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op
from funcnet.core.registry import Arg, add_cases, op_factory
from funcnet.initializers import Initializer, zeros
from funcnet.layers.recurrent.cell import Cell
from funcnet.layers.recurrent.scan import sequence_cases, sequence_op
from funcnet.layers.recurrent.sequence import sequence_layer
from funcnet.layers.spiking.lif_cell import RESETS, lif_description
from funcnet.layers.spiking.surrogate import surrogate as make_surrogate


def _check_decay(name: str, what: str, value: Any, learned: bool) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (0 < value < 1 if learned else 0 < value <= 1):
        interval = "(0, 1) to learn it" if learned else "(0, 1]"
        raise ValueError(f"{name}: expected {what} in {interval}, got {value!r}.")


def lif_cell_of(
    name: str,
    *,
    recurrent: bool,
    beta: float = 0.9,
    threshold: float = 1.0,
    reset: str = "subtract",
    detach_reset: bool = True,
    alpha: float | None = None,
    learn_beta: bool = False,
    learn_alpha: bool = False,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer | None = None,
) -> Cell:
    """The checked LIF cell description named ``name`` (the options of :func:`lif`)."""
    _check_decay(name, "beta", beta, learn_beta)
    if alpha is not None:
        _check_decay(name, "alpha", alpha, learn_alpha)
    elif learn_alpha:
        raise ValueError(f"{name}: expected alpha (a synaptic decay) to learn it, got None.")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
        raise ValueError(f"{name}: expected a positive threshold, got {threshold!r}.")
    if reset not in RESETS:
        raise ValueError(f"{name}: expected reset in {RESETS}, got {reset!r}.")
    for flag, value in (("detach_reset", detach_reset), ("learn_beta", learn_beta)):
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected {flag} to be a bool, got {value!r}.")
    check_option_applies(name, "u_init", u_init, recurrent, "to a recurrent layer (rlif)")
    sur = make_surrogate(name, surrogate, slope)
    return lif_description(name, sur, beta=float(beta), threshold=float(threshold), reset=reset,
                           detach_reset=detach_reset, alpha=None if alpha is None else float(alpha),
                           recurrent=recurrent, learn_beta=learn_beta, learn_alpha=learn_alpha,
                           w_init=w_init, u_init=u_init, b_init=b_init or zeros)  # fmt: skip


@op_factory("lif")
def lif_op(
    *,
    reverse: bool = False,
    truncate: int | None = None,
    masked: bool = False,
    beta: float = 0.9,
    threshold: float = 1.0,
    reset: str = "subtract",
    detach_reset: bool = True,
    alpha: float | None = None,
    learn_beta: bool = False,
    learn_alpha: bool = False,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
) -> Op:
    """``(x, s0, v0[, i0], w, b[, beta_logit, alpha_logit][, mask]) -> (spikes, s_T, v_T[, i_T])``
    of an LIF layer over ``x [..., T, F]``; the neuron options are :func:`lif`'s."""
    cell = lif_cell_of("lif", recurrent=False, **_neuron(locals()))
    return sequence_op(cell, reverse=reverse, truncate=truncate, masked=masked)


@op_factory("rlif")
def rlif_op(
    *,
    reverse: bool = False,
    truncate: int | None = None,
    masked: bool = False,
    beta: float = 0.9,
    threshold: float = 1.0,
    reset: str = "subtract",
    detach_reset: bool = True,
    alpha: float | None = None,
    learn_beta: bool = False,
    learn_alpha: bool = False,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
) -> Op:
    """The recurrent LIF op (parameters ``w, u, b, ...``); as :func:`lif_op` otherwise."""
    cell = lif_cell_of("rlif", recurrent=True, **_neuron(locals()))
    return sequence_op(cell, reverse=reverse, truncate=truncate, masked=masked)


_SEQUENCE_OPTIONS = ("reverse", "truncate", "masked")


def _neuron(options: dict[str, Any]) -> dict[str, Any]:
    """The neuron options among an op factory's explicit arguments."""
    return {k: v for k, v in options.items() if k not in _SEQUENCE_OPTIONS}


def _layer(name: str, recurrent: bool, features: int, seq: dict, options: dict) -> Layer:
    cell = lif_cell_of(name, recurrent=recurrent, **options)
    return sequence_layer(cell, features, **seq)


@layer_factory("lif")
def lif(
    features: int,
    *,
    beta: float = 0.9,
    threshold: float = 1.0,
    reset: str = "subtract",
    detach_reset: bool = True,
    alpha: float | None = None,
    learn_beta: bool = False,
    learn_alpha: bool = False,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
    return_sequences: bool = True,
    return_state: bool = False,
    reverse: bool = False,
    truncate: int | None = None,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    b_init: Initializer | None = None,
) -> Layer:
    """A layer of leaky integrate-and-fire neurons fed by a dense projection of ``x``.

    ``V[t] = β V[t−1] + x_t W + b − θ S[t−1]``, ``S[t] = H(V[t] − θ)``; the output is the
    spike train. The backward replaces ``H'`` by a surrogate.

    Args:
      features: the number of neurons ``H``.
      beta: the membrane decay ``β`` in (0, 1] (learned, from this value, if ``learn_beta``).
      threshold: ``θ > 0``.
      reset: ``"subtract"`` (``− θ S[t−1]``) or ``"zero"`` (``V[t] = β (1 − S[t−1]) V[t−1] +
        I[t]``).
      detach_reset: no gradient through the reset term (the default, as snnTorch and Zenke &
        Vogels 2021, who found learning no worse and often better without it).
      alpha: the synaptic decay ``α`` of a second-order neuron, ``I[t] = α I[t−1] + x_t W +
        b`` (``None``: no synaptic current).
      learn_beta, learn_alpha: learn the decays per neuron (kept as logits: ``β = sigmoid(a)``).
      surrogate: ``"fast_sigmoid"``, ``"arctan"``, ``"triangle"`` or ``"straight_through"``;
        ``slope`` its sharpness (``None``: 25, 2, 1; none for straight-through).
      return_sequences, return_state, reverse, truncate, dtype: as for :func:`~funcnet.rnn`;
        the state is ``LIFState(s, v)`` (``SynapticLIFState(s, v, i)`` with ``alpha``).
      w_init, b_init: fill ``W`` (lecun normal) and ``b`` (zeros).

    Shapes:
      x: ``[..., T, F]`` (or a ``RecurrentInput``) -> spikes ``[..., T, features]`` (or the
      last step's ``[..., features]``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = lif(4)
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 5, 3))
      >>> spikes, _ = layer.apply(params, state, 2 * jnp.ones((2, 5, 3)))
      >>> shape, bool(jnp.all((spikes == 0) | (spikes == 1)))
      ((2, 5, 4), True)
    """
    options = dict(beta=beta, threshold=threshold, reset=reset, detach_reset=detach_reset,
                   alpha=alpha, learn_beta=learn_beta, learn_alpha=learn_alpha,
                   surrogate=surrogate, slope=slope, w_init=w_init, b_init=b_init)  # fmt: skip
    seq = dict(return_sequences=return_sequences, return_state=return_state, reverse=reverse,
               truncate=truncate, dtype=dtype)  # fmt: skip
    return _layer("lif", False, features, seq, options)


@layer_factory("rlif")
def rlif(
    features: int,
    *,
    beta: float = 0.9,
    threshold: float = 1.0,
    reset: str = "subtract",
    detach_reset: bool = True,
    alpha: float | None = None,
    learn_beta: bool = False,
    learn_alpha: bool = False,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
    return_sequences: bool = True,
    return_state: bool = False,
    reverse: bool = False,
    truncate: int | None = None,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer | None = None,
) -> Layer:
    """A recurrent LIF layer (RSNN): :func:`lif` with ``+ S[t−1] U`` in the input current.

    The options are :func:`lif`'s; ``u_init`` fills ``U [H, H]`` (lecun normal).

    Shapes:
      x: ``[..., T, F]`` -> spikes ``[..., T, features]`` (or ``[..., features]``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = rlif(4, alpha=0.8)
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 5, 3))
      >>> spikes, _ = layer.apply(params, state, jnp.ones((2, 5, 3)))
      >>> shape, sorted(params._fields)
      ((2, 5, 4), ['b', 'u', 'w'])
    """
    options = dict(beta=beta, threshold=threshold, reset=reset, detach_reset=detach_reset,
                   alpha=alpha, learn_beta=learn_beta, learn_alpha=learn_alpha,
                   surrogate=surrogate, slope=slope, w_init=w_init, u_init=u_init,
                   b_init=b_init)  # fmt: skip
    seq = dict(return_sequences=return_sequences, return_state=return_state, reverse=reverse,
               truncate=truncate, dtype=dtype)  # fmt: skip
    return _layer("rlif", True, features, seq, options)


# every option of the cell's backward in two cases: lif with a synaptic current, learned decays,
# reset to zero passing gradient, arctan; rlif masked and reversed, subtraction, triangle
_LIF_CASE = dict(alpha=0.8, learn_beta=True, learn_alpha=True, reset="zero",
                 detach_reset=False, surrogate="arctan")  # fmt: skip
_RLIF_CASE = dict(detach_reset=False, surrogate="triangle", slope=0.5)
add_cases("lif", lambda: sequence_cases(lambda **k: lif_op(**k, **_LIF_CASE),
                                        lif_cell_of("lif", recurrent=False, **_LIF_CASE),
                                        ("plain",)))  # fmt: skip
add_cases("rlif", lambda: sequence_cases(lambda **k: rlif_op(**k, **_RLIF_CASE),
                                         lif_cell_of("rlif", recurrent=True, **_RLIF_CASE),
                                         ("masked_reverse_batch_axes",)))  # fmt: skip
# verify_model sees the surrogate ops and holds the layer to autodiff of their references
add_layer_cases("lif", lambda: [LayerCase("spikes", lif(4, threshold=0.5), Arg((2, 3, 3)))])
add_layer_cases("rlif", lambda: [LayerCase("spikes", rlif(4, threshold=0.5), Arg((2, 3, 3)))])
