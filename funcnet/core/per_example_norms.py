"""The norms pass: each example's squared gradient norm from the ops' hand-written backward.

DP-SGD clips each example's gradient ``gᵢ`` to norm ``C`` and needs only ``‖gᵢ‖``, not
``gᵢ``. An op with parameters declares ``per_example_norms(res, dy)``: from the residuals its
backward already has and the output cotangent, one entry per argument, ``None`` for an argument
it gives no norm for, else the squared Frobenius norm of that argument's cotangent for each
example, shape ``[B]`` (examples along the first axis of ``dy``, any further leading axes within
an example). For dense, ``‖xᵢ dyᵢᵀ‖² = ‖xᵢ‖²‖dyᵢ‖²``; docs/per_example.md has every identity.
An op whose norms need its backward's intermediate values (a recurrent op's per-step
cotangents) declares ``bwd_with_norms(res, dy) -> (cotangents, norms)`` instead: one pass.

A model runs the norms pass when its layers receive ``backward=NormsPass(probe, params)``:
they pass it on to their ops like any backward, and an op given a parameter leaf of ``params``
runs with an extra argument, ``probe`` (zeros ``[B]``, unused by the forward), whose cotangent
it defines as the sum of its parameters' per-example squared norms. The gradient with respect to
``probe`` is therefore ``‖gᵢ‖²`` summed over every op, for each example, and nothing of shape
``[B, *parameter]`` is ever formed. A parameter reaching an op that declares no norms, or
reaching two ops (the norm of a sum is not the sum of norms), or reaching none as it is (cast or
reshaped on the way), is an error at trace time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from funcnet.core.op import Op


class NormsPass:
    """The ``backward`` value of a norms pass (see the module docstring).

    Args:
      probe: zeros ``[B]`` in the parameters' floating dtype; differentiate with respect to it.
      params: the parameter pytree the model is applied with (its leaves, by identity, are the
        parameters whose norms are counted).
      where: the calling function's name, for error messages.
    """

    def __init__(self, probe: jax.Array, params: Any, where: str = "clipped_grad"):
        self.probe = probe
        self.where = where
        leaves = jax.tree_util.tree_leaves_with_path(params)
        self._params = {id(leaf): jax.tree_util.keystr(path) for path, leaf in leaves}
        self._used: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"NormsPass({self.where})"

    def check_all_used(self) -> None:
        """Raise unless every parameter reached an op itself: one transformed on the way (cast,
        reshaped, scaled) would have its norm left out."""
        missed = [path for i, path in self._params.items() if i not in self._used]
        if missed:
            raise ValueError(
                f"{self.where}: expected every parameter to reach an op as it is, got "
                f"params{missed[0]} (and {len(missed) - 1} more) used only after a "
                "transformation, or not at all, so its per-example norm is unknown; use "
                "make_per_example_train_step."
            )

    def call(self, op: Op, args: tuple) -> Any:
        """Apply ``op`` to ``args``, with its parameters' norms flowing into the probe."""
        is_param = tuple(id(a) in self._params for a in args)
        if not any(is_param):
            return op.manual(*args)
        for a, p in zip(args, is_param, strict=True):
            if p and id(a) in self._used:
                raise ValueError(
                    f"{self.where}: expected each parameter to reach one op, got a parameter of "
                    f"shape {jnp.shape(a)} used by {self._used[id(a)]!r} and {op.name!r} (a "
                    "shared parameter's per-example norm is not the sum of its uses' norms); use "
                    "make_per_example_train_step."
                )
            if p:
                self._used[id(a)] = op.name
        if op.per_example_norms is None or op.unused_outputs:
            raise TypeError(
                f"{self.where}: expected every op given a parameter to declare per-example "
                f"norms, got {op.name!r}, which does not; use make_per_example_train_step."
            )
        return _with_norms(op, is_param, self.where)(*args, self.probe)


def _with_norms(op: Op, is_param: tuple[bool, ...], where: str):
    """``op`` with a last argument ``probe`` whose cotangent is its parameters' squared norms."""
    norm_fn = op.per_example_norms

    def forward(*args):
        return op.forward(*args[:-1])

    def fwd(*args):
        y, res = op.fwd(*args[:-1])
        return y, (res, args[-1])

    def bwd(saved, dy):
        # (dargs, Σ_params ‖dθᵢ‖²): the op's own VJP, plus each example's squared norms
        res, probe = saved
        if op.bwd_with_norms is not None:
            cotangents, norms = op.bwd_with_norms(res, dy)
        else:
            cotangents, norms = op.bwd(res, dy), norm_fn(res, dy)
        missing = [i for i, p in enumerate(is_param) if p and norms[i] is None]
        if missing:
            raise TypeError(
                f"{where}: expected {op.name!r} to give per-example norms for its arguments "
                f"{missing} (parameters here), got None."
            )
        total = sum(n for n, p in zip(norms, is_param, strict=True) if p)
        if total.shape != probe.shape:
            raise ValueError(
                f"{where}: expected {op.name!r} per-example norms of shape {probe.shape} (the "
                f"examples along the first axis), got {total.shape}."
            )
        return (*cotangents, total.astype(probe.dtype))

    call = jax.custom_vjp(forward)
    call.defvjp(fwd, bwd)
    return call


def leading_rows(x: jax.Array, num_batch_axes: int) -> jax.Array:
    """``x [B, *inner, *core]`` with ``num_batch_axes`` leading axes as ``[B, T, *core]``, where
    ``T`` counts the positions within an example (1 when ``num_batch_axes == 1``)."""
    if num_batch_axes < 1:
        raise ValueError(
            "per-example norms: expected an input with a leading example axis, got shape "
            f"{jnp.shape(x)}."
        )
    core = x.shape[num_batch_axes:]
    return x.reshape(x.shape[0], -1, *core)


def gram_sq_norm(a: jax.Array, b: jax.Array) -> jax.Array:
    """``‖aᵢᵀ bᵢ‖²_F`` for each example ``i`` of ``a [B, T, m]``, ``b [B, T, n]``.

    Either as ``Σ (aᵢaᵢᵀ ∘ bᵢbᵢᵀ)`` (ghost clipping: two ``T×T`` Grams, ``T²(m + n)``
    multiply-adds) or by forming ``aᵢᵀ bᵢ`` (``T m n``), whichever costs less.
    """
    t, m, n = a.shape[1], a.shape[2], b.shape[2]
    if t == 1:
        return jnp.sum(a[:, 0] ** 2, axis=-1) * jnp.sum(b[:, 0] ** 2, axis=-1)
    if t * (m + n) < m * n:
        aa = jnp.einsum("btm,bsm->bts", a, a)
        bb = jnp.einsum("btn,bsn->bts", b, b)
        return jnp.sum(aa * bb, axis=(1, 2))
    return jnp.sum(jnp.einsum("btm,btn->bmn", a, b) ** 2, axis=(1, 2))


__all__ = ["NormsPass", "gram_sq_norm", "leading_rows"]
