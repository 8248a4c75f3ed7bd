"""The layer contract's checks, run on every registered layer configuration by
tests/core/test_layer_registry.py (see docs/design.md, "Layers").

Per configuration, in float32 unless said otherwise:

1. ``init``'s output shape is ``apply``'s; params and state are float32 pytrees, and ``apply``
   returns a state of the same structure;
2. ``jit(apply)`` equals eager ``apply``, and a second call with new values of the same shapes
   does not trace again (``chex.assert_max_traces``);
3. ``vmap(apply)`` over an added leading axis equals ``apply`` on the stack, values and manual
   gradients (in training mode, which may couple the examples of a call: separate calls);
4. bad input: an unknown ``backward``; an integer input where a float is expected (or a float
   where ids are); one more feature on the last axis and fewer axes, which ``init`` and
   ``apply`` accept or reject alike; what they reject is a ``ValueError`` naming a layer;
5. ``verify_model`` (float64) on the layer behind a dense layer, so that the layer's input
   gradient is checked too: manual vs autodiff vs finite differences.

Plain functions, so that a planted faulty layer can be shown to fail them.
"""

import re
from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core import layer_registry, registry
from funcnet.core.layer import Layer
from funcnet.core.layer_registry import LayerCase
from funcnet.core.registry import Arg
from funcnet.layers import dense, serial
from funcnet.layers.dense import DenseParams
from funcnet.losses import mean_squared_error
from funcnet.verify import verify_model
from funcnet.verify.sampling import draw_arg

BATCH = 2  # the size of the leading axis added for the vmap check
TOL = {"rtol": 2e-5, "atol": 2e-6}  # float32, compiled vs op by op


def check_layer(case: LayerCase) -> None:
    """Every check of the contract on one configuration; an AssertionError names the failure."""
    rng = np.random.default_rng(0)
    xs = [draw(case.input, rng) for _ in range(BATCH + 1)]  # drawn; apply gets built(case, x)
    key = jax.random.key(0) if case.train else None
    out_shape, params, state = init_params(case.layer, init_shape(case, xs[0]))
    y, new_state = case.layer.apply(params, state, built(case, xs[0]), key=key, train=case.train)
    check_shapes_and_dtypes(case, params, state, out_shape, y, new_state)
    check_transforms(case, params, state, xs, key, (y, new_state))
    check_bad_inputs(case, params, state)
    check_gradients(case, params, state, built(case, xs[0]), key)


def is_arg(a):
    return isinstance(a, Arg)


def draw(spec, rng, dtype=jnp.float32):
    return jax.tree.map(lambda a: draw_arg(a, rng, dtype), spec, is_leaf=is_arg)


def built(case, x):
    """apply's input from the drawn ``x`` (arrays or shape structs): the configuration's
    ``make_input`` (a cell's ``(x, state)``, a masked sequence) or ``x`` itself."""
    return x if case.make_input is None else case.make_input(x)


def init_shape(case, x):
    """``init``'s ``input_shape`` for the drawn ``x``: its shapes, or with ``make_input`` the
    shape of the built input's first leaf."""
    if case.make_input is None:
        return jax.tree.map(lambda a: tuple(a.shape), x)
    return tuple(jax.tree.leaves(jax.eval_shape(case.make_input, x))[0].shape)


def is_shape(s):
    return isinstance(s, tuple) and all(isinstance(d, int) for d in s)


def shape_list(out_shape):
    """``out_shape`` (one shape, or a pytree of shapes) as a list of shapes."""
    return jax.tree.leaves(out_shape, is_leaf=is_shape)


def names_a_layer(error: Exception, layer: Layer) -> bool:
    """The message opens with ``"<name>: "``, the layer's name or another registered layer's or
    op's (an inner layer of a combinator or model)."""
    if str(error).startswith(f"{layer.name}: "):  # names such as "bidirectional(rnn)"
        return True
    match = re.match(r"(\w+): ", str(error))
    known = {*layer_registry.layer_names(), *registry.op_names()}
    return bool(match) and match.group(1) in known


# Compiling is most of this test's cost; LLVM's optimisations change the code's speed, not what
# the checks compare (values, traces), and skipping them compiles 2-3 times faster.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def init_params(layer, shape):
    """``(output_shape, params, state)``, the random initialisers compiled once."""
    out = {}

    def params_and_state(key):
        out["shape"], params, state = layer.init(key, shape)
        return params, state

    params, state = jax.jit(params_and_state, compiler_options=FAST_COMPILE)(jax.random.key(1))
    return out["shape"], params, state


def check_shapes_and_dtypes(case, params, state, out_shape, y, new_state):
    for leaf in jax.tree.leaves((params, state, y)):
        assert leaf.dtype == jnp.float32, f"{case.label}: a leaf of dtype {leaf.dtype}"
    chex.assert_shape(jax.tree.leaves(y), shape_list(out_shape))
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


def check_gradients(case, params, state, x, key):
    """``verify_model`` on ``dense → layer`` (the layer alone when its input is not one float
    array), with a mean-squared-error loss on every output."""
    layer, model, model_params, model_state = case.layer, case.layer, params, state
    if is_arg(case.input) and case.input.kind != "int" and case.make_input is None:
        features = case.input.shape[-1]
        w = jnp.eye(features) + 0.3 * jax.random.normal(jax.random.key(2), (features, features))
        model = serial(dense(features, use_bias=False), layer)  # a bias before batch_norm
        model_params, model_state = (DenseParams(w, None), params), ((), state)  # has no gradient
    mse = mean_squared_error()

    def loss(y, t, backward):
        pairs = zip(jax.tree.leaves(y), jax.tree.leaves(t), strict=True)
        return sum(mse(a, b, backward=backward) for a, b in pairs)

    y, _ = model.apply(model_params, model_state, x, key=key, train=case.train)
    t = jax.tree.map(lambda a: jnp.asarray(np.random.default_rng(3).normal(size=a.shape)), y)
    report = verify_model(
        model, model_params, model_state, (x, t), loss, key=key, train=case.train, name=layer.name
    )
    report.raise_if_failed()


def check_transforms(case, params, state, xs, key, eager):
    """``jit(apply)`` vs eager (``eager`` is its output on ``xs[0]``) and no second trace;
    ``vmap`` over an added axis vs the call on the stack, values and manual gradients (of the
    params and of a float drawn input); in training mode, vs separate calls instead."""
    layer_apply = partial(case.layer.apply, key=key, train=case.train)
    float_input = all(a.kind != "int" for a in jax.tree.leaves(case.input, is_leaf=is_arg))

    def apply(p, s, x):
        return layer_apply(p, s, built(case, x))

    def mapped(p, stack):
        return jax.vmap(lambda x: apply(p, state, x)[0])(stack)

    def stacked(p, stack):
        if not case.train:
            return apply(p, state, stack)[0]
        parts = [apply(p, state, jax.tree.map(lambda a, i=i: a[i], stack))[0] for i in range(BATCH)]
        return jax.tree.map(lambda *a: jnp.stack(a), *parts)  # separate calls

    def values_and_gradients(fn, p, stack, dy):
        if float_input:
            y, vjp = jax.vjp(fn, p, stack)
        else:
            y, vjp = jax.vjp(lambda p: fn(p, stack), p)
        return y, vjp(dy)

    def run(params, state, x, stack, dy):
        return (
            apply(params, state, x),
            values_and_gradients(mapped, params, stack, dy),
            values_and_gradients(stacked, params, stack, dy),
        )

    chex.clear_trace_counter()  # the counter is per code object, shared by every case
    traced = jax.jit(chex.assert_max_traces(run, n=1), compiler_options=FAST_COMPILE)
    stack = jax.tree.map(lambda *a: jnp.stack(a), *xs[:BATCH])
    rng = np.random.default_rng(4)
    dy = jax.tree.map(lambda a: jnp.asarray(rng.normal(size=(BATCH, *a.shape)), a.dtype), eager[0])
    one, by_vmap, by_stack = traced(params, state, xs[0], stack, dy)
    chex.assert_trees_all_close(one, eager, **TOL, custom_message=f"{case.label}: jit vs eager")
    other = "separate calls" if case.train else "the call on the stack"
    message = f"{case.label}: vmap over an added axis vs {other}"
    chex.assert_trees_all_close(by_vmap, by_stack, **TOL, custom_message=message)
    traced(params, state, xs[BATCH], stack, dy)  # new values, same shapes: no second trace


def outcome(fn, *args):
    """``("ok", output shapes)`` or ``("error", the exception)`` of ``fn`` traced on ``args``."""
    try:
        return "ok", jax.eval_shape(fn, *args)
    except (ValueError, TypeError) as e:
        return "error", e


def traced_init(layer, shape):
    """``layer.init`` traced, not run: ``("ok", (output shape, params, state))`` or the error."""
    out = {}

    def params_and_state(key):
        out["shape"], params, state = layer.init(key, shape)
        return params, state

    status, result = outcome(params_and_state, jax.random.key(0))
    return (status, result) if status == "error" else (status, (out["shape"], *result))


def struct(arg, dtype=None):
    return jax.ShapeDtypeStruct(
        arg.shape, dtype or (jnp.int32 if arg.kind == "int" else jnp.float32)
    )


def check_bad_inputs(case, params, state):
    """An unknown ``backward`` is rejected; per input array, the other dtype kind is rejected,
    and one more feature and fewer axes are accepted or rejected by ``init`` and ``apply``
    alike."""
    layer = case.layer
    layer_apply = partial(layer.apply, key=jax.random.key(0), train=case.train)

    def apply(p, s, x, **options):
        return layer_apply(p, s, built(case, x), **options)

    def rejected(what, *args):
        status, error = outcome(apply, params, state, *args)
        assert status == "error", f"{case.label}: apply accepts {what}"
        assert isinstance(error, ValueError) and names_a_layer(error, layer), (
            f"{case.label}: {what} raised {type(error).__name__}: {error}"
        )

    def agree(what, spec):
        """``init`` on ``spec``'s shapes and ``apply`` with the good params agree on ``spec``."""
        x = jax.tree.map(struct, spec, is_leaf=is_arg)
        try:
            shape = init_shape(case, x)
        except (ValueError, IndexError):  # make_input cannot build it: not this layer's input
            return None
        status, result = traced_init(layer, shape)
        if status == "error":
            assert isinstance(result, ValueError) and names_a_layer(result, layer), (
                f"{case.label}: init on {what} raised {type(result).__name__}: {result}"
            )
            return rejected(f"{what}, which init rejects", x)
        out_shape, new_params, _ = result
        if jax.tree.map(lambda a: a.shape, new_params) != jax.tree.map(lambda a: a.shape, params):
            return rejected(f"{what}, for which init makes params of other shapes", x)
        status, y = outcome(apply, params, state, x)
        # Training mode may need more than init can see (one value per feature for batch
        # statistics), and with make_input init sees only the input's first array.
        if status == "error" and (case.train or case.make_input is not None):
            assert isinstance(y, ValueError) and names_a_layer(y, layer), f"{case.label}: {y!r}"
            return None
        assert status == "ok", f"{case.label}: init accepts {what}, apply raises {y!r}"
        shapes = [a.shape for a in jax.tree.leaves(y[0])]
        assert shapes == shape_list(out_shape), f"{case.label}: {what}: {out_shape} vs {shapes}"
        return None

    x = jax.tree.map(struct, case.input, is_leaf=is_arg)
    for backward, error in (("both", ValueError), (True, TypeError)):
        with pytest.raises(error, match="expected backward to be one of"):
            jax.eval_shape(partial(apply, backward=backward), params, state, x)
    for path, arg in jax.tree_util.tree_flatten_with_path(case.input, is_leaf=is_arg)[0]:
        where = jax.tree_util.keystr(path) or "x"

        def with_leaf(new, path=path):
            return jax.tree_util.tree_map_with_path(
                lambda p, a: new if p == path else a, case.input, is_leaf=is_arg
            )

        other = jnp.float32 if arg.kind == "int" else jnp.int32
        wrong_dtype = jax.tree_util.tree_map_with_path(
            lambda p, a, path=path, other=other: struct(a, other if p == path else None),
            case.input,
            is_leaf=is_arg,
        )
        rejected(f"{jnp.dtype(other)} at {where}", wrong_dtype)
        wider = arg._replace(shape=(*arg.shape[:-1], arg.shape[-1] + 1))
        agree(f"one more feature at {where}", with_leaf(wider))
        for k in range(1, len(arg.shape) + 1):
            agree(f"shape {arg.shape[k:]} at {where}", with_leaf(arg._replace(shape=arg.shape[k:])))
