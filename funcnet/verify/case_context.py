"""What every check of one sample case works on: the drawn arguments, cotangent and tolerances.

A :class:`CaseContext` is built once per case, dtype and seed. It draws the arguments and the
cotangent ``dy``, runs the manual VJP once eagerly (op by op, as a user's first call runs it),
and compiles the oracle — autodiff of the reference forward — on first use, so the named checks
of :mod:`funcnet.verify.checks` share a few compilations per case whatever they ask for.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.dtypes import float0

from funcnet.core.op import Op
from funcnet.core.registry import Case
from funcnet.verify.oracle import reference_jit
from funcnet.verify.report import leaf_error
from funcnet.verify.sampling import (
    draw_args,
    generators,
    is_differentiable,
    random_cotangent,
    random_like,
    to_float64,
)
from funcnet.verify.tolerances import Tolerances, is_low_precision, tolerances

# At bfloat16/float16 the manual backward may be as inexact as autodiff itself is in that dtype
# (a few times over), never required to be better: see tolerances.py.
LOW_PRECISION_SLACK = 4.0


def arg_names(fn: Callable[..., Any], n: int) -> list[str]:
    """Names of the first ``n`` positional arguments of ``fn`` (``b`` for ``*b``)."""
    names: list[str] = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            extra = n - len(names)
            names += [p.name] if extra == 1 else [f"{p.name}[{j}]" for j in range(extra)]
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return (names + [f"arg{i}" for i in range(len(names), n)])[:n]


def output_paths(y: Any) -> list[str]:
    """``"y"`` for a single output, ``"y[0]"``, ``"y[1]"``, ... for a tuple of outputs."""
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(y)[0]]
    return [f"y{p}" for p in paths]


def manual_vjp(op: Op) -> Callable[[tuple, Any], tuple]:
    """``(args, dy) -> cotangents`` through the op's hand-written backward."""
    return lambda args, dy: jax.vjp(op.manual, *args)[1](dy)


def reference_vjp(fn: Callable[..., Any]) -> Callable[[tuple, Any], tuple[Any, tuple]]:
    """``(args, dy) -> (fn(*args), cotangents)`` by JAX autodiff, compiled for the oracle.

    One program gives the reference values and the reference gradient; the finite-difference
    check evaluates it too (the gradient it also computes costs less than another compilation).
    """

    def values_and_cotangents(args: tuple, dy: Any) -> tuple[Any, tuple]:
        y, pullback = jax.vjp(fn, *args)
        return y, pullback(dy)

    return reference_jit(values_and_cotangents)


@dataclasses.dataclass
class CaseContext:
    """One sample case drawn at one dtype and seed, with the manual VJP already evaluated.

    Attributes:
      case: the sample case (its op and argument specs).
      dtype: the floating dtype the arguments and cotangent are drawn in.
      tol: the dtype's tolerances.
      args: the drawn arguments; ``names`` their names; ``diff`` the indices of those that get
        a cotangent (floating point).
      dy: the random cotangent of the output (a pytree for several outputs).
      y_manual, g_manual: the output and the cotangents of the manual VJP, run eagerly.
      rng_dir, rng_vmap, rng_second, rng_jvp: generators for the finite-difference
        directions, the extra draws of the vmap check, the second-order check's directions and
        the forward-mode checks' tangents.
      forward_mode: whether the forward-mode checks run on this case (an op's JVP may be
        checked on its first case only, to keep a registry sweep's cost down).
    """

    case: Case
    dtype: jnp.dtype
    tol: Tolerances
    args: tuple
    names: list[str]
    diff: list[int]
    dy: Any
    y_manual: Any
    g_manual: tuple
    rng_dir: np.random.Generator
    rng_vmap: np.random.Generator
    rng_second: np.random.Generator
    rng_jvp: np.random.Generator
    forward_mode: bool = True

    @property
    def op(self) -> Op:
        return self.case.op

    @property
    def low_precision(self) -> bool:
        return is_low_precision(self.dtype)

    @functools.cached_property
    def manual_jit(self) -> Callable[[tuple, Any], tuple]:
        """The manual VJP compiled with ``jax.jit`` (the jit and vmap checks share it)."""
        return jax.jit(manual_vjp(self.op))

    @property
    def exact(self) -> bool:
        """Whether the op's backward is meant to be the derivative of its forward."""
        return self.op.gradient_reference is None

    @functools.cached_property
    def reference(self) -> Callable[[tuple, Any], tuple[Any, tuple]]:
        """The compiled oracle ``(args, dy) -> (y, cotangents)`` by autodiff of the op's
        reference: its forward, or its gradient reference (see :func:`reference_vjp`)."""
        return reference_vjp(self.op.reference)

    @functools.cached_property
    def reference_at_dtype(self) -> tuple[Any, tuple]:
        """The oracle run in the check's dtype."""
        return self.reference(self.args, self.dy)

    @functools.cached_property
    def oracle_args(self) -> tuple[tuple, Any]:
        """The arguments and cotangent the oracle is evaluated at: the drawn ones, promoted to
        float64 for bfloat16/float16 (the same values, computed on exactly)."""
        if self.low_precision:
            return to_float64(self.args), to_float64(self.dy)
        return self.args, self.dy

    @functools.cached_property
    def oracle(self) -> tuple[Any, tuple]:
        """``(y, cotangents)`` of the oracle at :attr:`oracle_args`."""
        if not self.low_precision:
            return self.reference_at_dtype
        return self.reference(*self.oracle_args)

    @property
    def g_oracle(self) -> tuple:
        """The gradient the manual one is held to: autodiff of the reference in the check's
        dtype, or in float64 at the same (rounded) inputs for bfloat16/float16."""
        return self.oracle[1]

    @functools.cached_property
    def y_oracle(self) -> Any:
        """The true forward's values the manual path's are held to (in float64 for
        bfloat16/float16)."""
        if self.exact:
            return self.oracle[0]
        return reference_jit(self.op.forward)(*self.oracle_args[0])

    @functools.cached_property
    def y_ref(self) -> Any:
        """The true forward's values, computed in the check's dtype."""
        if self.exact:
            return self.reference_at_dtype[0]
        if not self.low_precision:
            return self.y_oracle
        return reference_jit(self.op.forward)(*self.args)

    def derived_tolerance(self, base: float, low: Any, exact: Any) -> float:
        """``base``, or in bfloat16/float16 ``LOW_PRECISION_SLACK`` times the error ``low`` (the
        reference computed in this dtype) makes against ``exact`` (in float64), if larger."""
        if not self.low_precision:
            return base
        own = leaf_error("", "", low, exact, 0.0).max_rel_err
        return max(base, LOW_PRECISION_SLACK * own)

    @functools.cached_property
    def forward_tolerance(self) -> list[float]:
        """Per output leaf, the tolerance of the manual path's values against the oracle's."""
        pairs = zip(jax.tree.leaves(self.y_ref), jax.tree.leaves(self.y_oracle), strict=True)
        return [self.derived_tolerance(self.tol.transforms, low, y) for low, y in pairs]

    @functools.cached_property
    def autodiff_tolerance(self) -> dict[int, float]:
        """Per differentiable argument, the tolerance of the manual gradient against the oracle
        (derived from autodiff's own error in bfloat16/float16, see tolerances.py)."""
        g_low = self.reference_at_dtype[1]
        return {
            i: self.derived_tolerance(self.tol.autodiff, g_low[i], self.g_oracle[i])
            for i in self.diff
        }

    @functools.cached_property
    def tangents(self) -> tuple:
        """A random tangent per differentiable argument, a ``float0`` zero for the others
        (JAX's tangent of an integer argument): the forward-mode checks' direction ``v``."""
        return tuple(
            random_like(self.rng_jvp, a) if i in self.diff else np.zeros(np.shape(a), float0)
            for i, a in enumerate(self.args)
        )

    @functools.cached_property
    def jvp_manual(self) -> tuple[Any, Any]:
        """``(y, J v)`` of the op's hand-written JVP at the arguments and :attr:`tangents`."""
        return jax.jit(lambda args, ts: self.op.jvp(args, ts))(tuple(self.args), self.tangents)

    @functools.cached_property
    def fd_tolerance(self) -> dict[int, float]:
        """Per differentiable argument, the finite-difference tolerance (at least the
        argument's autodiff tolerance in bfloat16/float16)."""
        if not self.low_precision:
            return {i: self.tol.finite_differences for i in self.diff}
        return {i: max(self.tol.finite_differences, self.autodiff_tolerance[i]) for i in self.diff}


def make_context(case: Case, dtype: jnp.dtype, seed: int, forward_mode: bool = True) -> CaseContext:
    """Draw the case's arguments and cotangent and run the manual VJP eagerly."""
    rng_args, rng_dy, rng_dir, rng_vmap, rng_second, rng_jvp = generators(seed, 6)
    args = draw_args(case.args, rng_args, dtype)
    # The manual VJP runs eagerly (op by op); everything else is compiled.
    y_manual, vjp_manual = jax.vjp(case.op.manual, *args)
    dy = random_cotangent(rng_dy, y_manual)
    return CaseContext(
        case=case,
        dtype=dtype,
        tol=tolerances(dtype),
        args=args,
        names=arg_names(case.op.forward, len(args)),
        diff=[i for i, a in enumerate(args) if is_differentiable(a)],
        dy=dy,
        y_manual=y_manual,
        g_manual=vjp_manual(dy),
        rng_dir=rng_dir,
        rng_vmap=rng_vmap,
        rng_second=rng_second,
        rng_jvp=rng_jvp,
        forward_mode=forward_mode,
    )
