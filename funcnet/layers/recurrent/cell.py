"""The description of a recurrent cell: the one thing each cell writes.

A :class:`Cell` bundles pure functions — parameter init, one forward time step and its
hand-written backward — and says how its state is structured. The generic machinery consumes
it without knowing which cell it is: the sequence op (:mod:`funcnet.layers.recurrent.scan`:
forward ``lax.scan``, reverse-scan BPTT, masks, ``reverse``, ``truncate``), the one-step cell
op (:mod:`funcnet.layers.recurrent.step`) and the layers built on them. Adding a cell means
writing one description (:mod:`~funcnet.layers.recurrent.elman` is the shortest example).

A state is a tuple of arrays ``[..., H]`` (``(h,)``; ``(h, c)`` for the LSTM); parameters are
a NamedTuple the cell owns, so a cell may have any parameters (no recurrent matrix, a learned
decay, ...). The helpers below are the products most cells share, forward and backward::

    z = x W + b:   dx = dz Wᵀ,   dW = Σ xᵀ dz,   db = Σ dz      (Σ over the leading axes)
    z = h U:       dh = dz Uᵀ,   dU = Σ hᵀ dz

and, transposed, their tangents (forward mode, :attr:`Cell.step_jvp`)::

    ż = ẋ W + x Ẇ + ḃ     ż = ḣ U + h U̇

A cell may write its backward with each parameter's gradient left *factored*, ``(x, dz)``
for ``Σ xᵀ dz`` and ``(None, dz)`` for ``Σ dz`` (``step_bwd_factors``; ``step_bwd`` is then
:func:`summed_step_bwd` of it). The factors are each example's gradient at one step, which is
what DP-SGD's per-example norms need (:func:`factor_sq_norms`, docs/per_example.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.nn.initializers import orthogonal

from funcnet.core.layer import Shape, check_floating, check_positive_int
from funcnet.core.per_example_norms import gram_sq_norm
from funcnet.initializers import Initializer, lecun_normal
from funcnet.layers.dense import weight_gradient

State = tuple[jax.Array, ...]


class Cell(NamedTuple):
    """A recurrent cell, described by pure functions.

    Attributes:
      name: the name of its sequence op and layer (``"lstm"``); its one-step op and layer are
        ``f"{name}_cell"``.
      params_type: the NamedTuple of its parameters; the ops take them as arguments in field
        order, after ``x`` and the state's parts.
      state_type: the NamedTuple a state of several parts is given as (``LSTMState``); ``None``
        when the state is one array.
      init: ``(key, in_features, features, dtype) -> params``.
      in_features: ``params -> F``, the input width the parameters expect.
      step: ``(x_t, state, params) -> (new_state, res)``: one time step on ``x_t [..., F]``;
        ``res`` are the residuals its backward needs beyond the two states (``()`` if none).
      step_bwd: ``(x_t, params, state, new_state, res, d_new_state) -> (dx_t, d_state,
        d_params)``: the hand-written VJP of ``step``, parameter cotangents summed over the
        leading (batch) axes. It never calls JAX autodiff.
      output: the index of the state part the layer outputs at each step (``h``).
      gradient: ``"exact"``, or ``"surrogate: <what>"`` when ``step_bwd`` is deliberately not
        the derivative of ``step`` (a spike's surrogate derivative).
      reference_step: for a surrogate, ``step`` with ``step``'s values whose autodiff is
        ``step_bwd`` (written with ``lax.stop_gradient``); the ops' gradient reference.
      finite_differences: for a surrogate, why finite differences do not apply.
      step_bwd_factors: ``step_bwd`` with each parameter's gradient as a factor pair ``(a, g)``
        (``a [..., m]`` or ``None``, ``g [..., n]``): one example's gradient at this step is
        ``aᵀ g`` (``g`` when ``a`` is ``None``), and ``step_bwd`` sums them over the leading
        axes (:func:`summed_step_bwd`). With it the cell's ops declare per-example norms
        (DP-SGD's ghost clipping); ``None``: they declare none.
      step_jvp: ``(x_t, params, state, new_state, res, dx_t, d_state, d_params) ->
        d_new_state``: the hand-written JVP of ``step`` (of ``reference_step`` for a surrogate:
        the intended derivative, ``res`` then that step's), from the same derivation as
        ``step_bwd``, whose transpose it is; linear in the tangents. The cell's ops carry a
        forward-mode JVP built on it (a forward scan carrying the state's tangent); ``None``:
        they have none.
    """

    name: str
    params_type: type
    state_type: type | None
    init: Callable[[jax.Array, int, int, Any], Any]
    in_features: Callable[[Any], int]
    step: Callable[[jax.Array, State, Any], tuple[State, Any]]
    step_bwd: Callable[..., tuple[jax.Array, State, Any]]
    output: int = 0
    gradient: str = "exact"
    reference_step: Callable[[jax.Array, State, Any], tuple[State, Any]] | None = None
    finite_differences: str | None = None
    step_bwd_factors: Callable[..., tuple[jax.Array, State, Any]] | None = None
    step_jvp: Callable[..., State] | None = None

    @property
    def num_states(self) -> int:
        """The number of arrays in a state."""
        return 1 if self.state_type is None else len(self.state_type._fields)

    def state_parts(self, state: Any) -> State:
        """A user-facing state (an array, or a ``state_type``) as a tuple of arrays."""
        return (state,) if self.state_type is None else tuple(state)

    def state_of(self, parts: State) -> Any:
        """The user-facing state of a tuple of arrays (the inverse of :meth:`state_parts`)."""
        return parts[0] if self.state_type is None else self.state_type(*parts)

    def state_structure(self) -> str:
        """How a state is given, for error messages: ``h`` or ``LSTMState(h, c)``."""
        if self.state_type is None:
            return "an array"
        return f"{self.state_type.__name__}({', '.join(self.state_type._fields)})"


def add_bias(z: jax.Array, b: jax.Array) -> jax.Array:
    """``z + b`` with ``b`` broadcast explicitly over the leading axes (no rank promotion)."""
    return z + jnp.expand_dims(b, tuple(range(z.ndim - b.ndim)))


def affine(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """``x W + b`` for every leading axis."""
    return add_bias(jnp.matmul(x, w), b)


def affine_bwd(x: jax.Array, w: jax.Array, dz: jax.Array) -> tuple[jax.Array, ...]:
    """``(dx, dW, db)`` of ``z = x W + b``."""
    # dx = dz Wᵀ, dW = Σ xᵀ dz, db = Σ dz
    return dz @ w.T, weight_gradient(x, dz), jnp.sum(dz, axis=tuple(range(dz.ndim - 1)))


def affine_factors(x: jax.Array, w: jax.Array, dz: jax.Array) -> tuple[Any, ...]:
    """``(dx, dW, db)`` of ``z = x W + b`` with ``dW``, ``db`` as factors ``(x, dz)``, ``(None,
    dz)`` (see :attr:`Cell.step_bwd_factors`)."""
    # dx = dz Wᵀ; per example dW = xᵀ dz, db = dz
    return dz @ w.T, (x, dz), (None, dz)


def affine_jvp(x: jax.Array, w: jax.Array, dx: jax.Array, dw: jax.Array, db: jax.Array):
    """The tangent of ``z = x W + b``: ``ż = ẋ W + x Ẇ + ḃ`` (the transpose of
    :func:`affine_bwd`)."""
    return affine(dx, w, db) + jnp.matmul(x, dw)


def product_jvp(h: jax.Array, u: jax.Array, dh: jax.Array, du: jax.Array) -> jax.Array:
    """The tangent of ``z = h U``: ``ż = ḣ U + h U̇``."""
    return dh @ u + h @ du


def product_factors(h: jax.Array, u: jax.Array, dz: jax.Array) -> tuple[Any, ...]:
    """``(dh, dU)`` of ``z = h U`` with ``dU`` as the factors ``(h, dz)``."""
    # dh = dz Uᵀ; per example dU = hᵀ dz
    return dz @ u.T, (h, dz)


def sum_factors(factors: Any) -> Any:
    """The parameter gradients of factor pairs, summed over the leading (batch) axes."""
    return type(factors)(*(
        jnp.sum(g, axis=tuple(range(g.ndim - 1))) if a is None else weight_gradient(a, g)
        for a, g in factors
    ))  # fmt: skip


def summed_step_bwd(step_bwd_factors: Callable[..., tuple]) -> Callable[..., tuple]:
    """A cell's ``step_bwd`` from its ``step_bwd_factors``: the factors summed over the batch."""

    def step_bwd(x, params, state, new, res, d_new):
        dx, d_state, factors = step_bwd_factors(x, params, state, new, res, d_new)
        return dx, d_state, sum_factors(factors)

    return step_bwd


def factor_sq_norms(factors: Any) -> tuple[jax.Array, ...]:
    """Each parameter's squared gradient norm per example from factor pairs of rows ``[B, R,
    ·]`` (``R`` the rows within an example: steps, inner batch positions): ``‖aᵢᵀ gᵢ‖²_F`` in
    the Gram or the direct form (:func:`~funcnet.core.per_example_norms.gram_sq_norm`), or
    ``‖Σ_R gᵢ‖²`` when ``a`` is ``None``."""
    return tuple(
        jnp.sum(jnp.sum(g, axis=1) ** 2, axis=-1) if a is None else gram_sq_norm(a, g)
        for a, g in factors
    )


def sigmoid(z: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(z)


def init_gated(
    key: jax.Array,
    in_features: int,
    features: int,
    num_gates: int,
    dtype: Any,
    w_init: Initializer | None,
    u_init: Initializer | None,
    b_init: Initializer,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(W [F, G·H], U [H, G·H], b [G·H])``: ``W`` lecun-normal, ``U`` orthogonal, ``b`` from
    ``b_init`` by default (keys: the first three of ``split(key, 4)``)."""
    kw, ku, kb, _ = jax.random.split(key, 4)
    width = num_gates * features
    w = (w_init or lecun_normal())(kw, (in_features, width), dtype)
    u = (u_init or orthogonal())(ku, (features, width), dtype)
    return w, u, b_init(kb, (width,), dtype)


def param_shapes(cell: Cell, in_features: int, features: int) -> tuple[tuple[int, ...], ...]:
    """The shapes of ``cell``'s parameters, in field order (nothing is computed)."""
    params = jax.eval_shape(
        lambda: cell.init(jax.random.key(0), in_features, features, jnp.float32)
    )
    return tuple(p.shape for p in params)


def params_dtype(params: Any) -> Any:
    """The dtype of a cell's parameters (that of their first leaf)."""
    return jax.tree.leaves(params)[0].dtype


def described(obj: Any) -> str:
    """An object as an error message names it: an array by its shape, anything else by type."""
    if hasattr(obj, "shape") and not isinstance(obj, tuple):
        return f"an array of shape {tuple(jnp.shape(obj))}"
    return f"a {type(obj).__name__}"


def check_cell_config(name: str, features: int, dtype: Any) -> None:
    check_positive_int(name, "features", features)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name}: expected a floating-point dtype, got {jnp.dtype(dtype)}.")


def check_state(name: str, state: jax.Array, expected: Shape, dtype: Any) -> None:
    """Raise unless a state part has shape ``batch + (features,)`` and the params' dtype."""
    if tuple(jnp.shape(state)) != tuple(expected):
        raise ValueError(
            f"{name}: expected a state of shape {tuple(expected)}, got {tuple(jnp.shape(state))}."
        )
    check_floating(name, state, dtype)


def state_parts_checked(name: str, cell: Cell, state: Any, shape: Shape, dtype: Any) -> State:
    """``cell.state_parts(state)``, raising unless it has the cell's structure, every part
    ``shape`` and ``dtype``."""
    is_tuple = isinstance(state, tuple)
    if is_tuple != (cell.state_type is not None) or (is_tuple and len(state) != cell.num_states):
        raise TypeError(
            f"{name}: expected a state given as {cell.state_structure()}, got {described(state)}."
        )
    parts = cell.state_parts(state)
    for part in parts:
        check_state(name, part, shape, dtype)
    return parts
