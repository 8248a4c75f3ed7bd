"""Conjugate-gradient training compared with SciPy, L-BFGS and full-batch Adam.

Run: python experiments/conjugate_gradient.py [--seeds 3] [--budget 600]

Problems: XOR (2-8-2), iris (4-16-3) and digits (64-32-10), tanh MLPs trained full batch on
softmax cross-entropy, float32. Methods: funcnet's conjugate gradient (Fletcher–Reeves,
Polak–Ribière, Polak–Ribière with Powell–Beale restarts, zoom line search) and scaled conjugate
gradient through ``make_train_step(..., full_batch=True)``; ``optax.lbfgs`` and full-batch Adam
through the same step; ``scipy.optimize.minimize`` with ``method="CG"`` and ``"L-BFGS-B"`` on
the same jitted loss and gradient (the manual backward), the parameters flattened.

The target loss of each (problem, seed) is the loss full-batch Adam (learning rate 0.01) reaches
after 500 steps. For each method: loss-and-gradient evaluations and wall time (compilation
excluded, one host read of the loss per iteration, as SciPy's loop has) until the loss first
falls below the target, the test accuracy there, and the test accuracy after ``--budget``
evaluations. Medians over seeds with [min, max]. Writes experiments/out/conjugate_gradient.md
and a convergence plot, experiments/out/conjugate_gradient.png (seed 0).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize
from jax.flatten_util import ravel_pytree
from plotting import pyplot

import funcnet as fn

OUT = Path(__file__).parent / "out"
ADAM_LR, ADAM_STEPS = 1e-2, 500
PROBLEMS = {  # name: (load () -> (train, test), hidden widths)
    "xor": (lambda: (fn.data.xor(), fn.data.xor()), (8,)),
    "iris": (fn.data.iris, (16,)),
    "digits": (fn.data.digits, (32,)),
}
OPTAX_METHODS = {
    "CG Fletcher–Reeves": lambda: fn.conjugate_gradient("fletcher_reeves", restart="dimension"),
    "CG Polak–Ribière": lambda: fn.conjugate_gradient("polak_ribiere", restart="dimension"),
    "CG Powell–Beale": lambda: fn.conjugate_gradient("polak_ribiere", restart="powell_beale"),
    "SCG": fn.scaled_conjugate_gradient,
    "optax.lbfgs": optax.lbfgs,
    "Adam (full batch)": lambda: optax.adam(ADAM_LR),
}
SCIPY_METHODS = {"SciPy CG": "CG", "SciPy L-BFGS-B": "L-BFGS-B"}


class Problem:
    """A model, its data on the device, and the jitted functions every method shares."""

    def __init__(self, name: str):
        load, hidden = PROBLEMS[name]
        (train, test), self.name = load(), name
        classes = int(max(train.y.max(), test.y.max())) + 1
        self.model = fn.mlp(hidden, classes, activation=fn.tanh)
        self.loss = fn.softmax_cross_entropy_with_integer_labels()
        self.train = (jnp.asarray(train.x), jnp.asarray(train.y))
        self.test = (jnp.asarray(test.x), jnp.asarray(test.y))
        self.eval_step = fn.make_eval_step(self.model, self.loss)
        self.steps: dict[str, object] = {}  # one compiled step per method, shared by the seeds

    def init(self, seed: int):
        _, params, state = self.model.init(jax.random.key(seed), self.train[0].shape)
        return params, state

    def accuracy(self, params, state) -> float:
        return float(self.eval_step(params, state, self.test)["accuracy"])

    def step(self, method: str):
        if method not in self.steps:
            opt = OPTAX_METHODS[method]()
            self.steps[method] = (opt, fn.make_train_step(self.model, self.loss, opt,
                                                          full_batch=True))  # fmt: skip
        return self.steps[method]


class Clock:
    """Seconds since the start, less the time spent in ``paused()`` (test accuracies)."""

    def __init__(self):
        self.start, self.excluded = time.perf_counter(), 0.0

    def read(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    def exclude(self, fn, *args):
        before = time.perf_counter()
        result = fn(*args)
        self.excluded += time.perf_counter() - before
        return result


class Trace:
    """Per iteration: evaluations so far, seconds so far, loss; and the first point at target."""

    def __init__(self, target: float):
        self.target, self.rows = target, []
        self.hit: tuple[int, float, float] | None = None  # (evaluations, seconds, test accuracy)

    def add(self, clock: Clock, evaluations: int, loss: float, accuracy) -> None:
        """Record a point; at the first below the target, also ``accuracy()`` (not timed)."""
        seconds = clock.read()
        self.rows.append((evaluations, seconds, loss))
        if self.hit is None and loss <= self.target:
            self.hit = (evaluations, seconds, clock.exclude(accuracy))


def spent(metrics: dict, opt_state) -> int:
    """Loss-and-gradient evaluations of the step's line search (or SCG iteration)."""
    if "evaluations" in metrics:  # funcnet's optimizers report them in the step's metrics
        return int(metrics["evaluations"])
    return int(optax.tree.get(opt_state, "num_linesearch_steps"))  # optax.lbfgs's zoom


def strong(tree):
    """A copy with every leaf its own strongly typed array, as the step's outputs are: the step
    is shared by the seeds and compiled once (optax's line-search counters start weakly typed)."""
    return jax.tree.map(lambda x: jnp.array(x, dtype=jnp.result_type(x)), tree)


def run_optax(problem: Problem, method: str, seed: int, budget: int, target: float):
    opt, step = problem.step(method)
    params, state = problem.init(seed)
    jax.block_until_ready(step(*strong((params, state, opt.init(params))), problem.train, None))
    opt_state, trace = strong(opt.init(params)), Trace(target)  # compiled before the clock
    adam = optax.tree.get(opt_state, "value") is None
    evaluations, clock = (0 if adam else 1), Clock()
    while evaluations < budget:
        params, state, opt_state, metrics = step(params, state, opt_state, problem.train, None)
        if adam:  # one gradient per step, at the params the reported loss was computed at
            evaluations, loss = evaluations + 1, float(metrics["loss"])
        else:  # the line search's loss at the new params, kept in the state
            evaluations += spent(metrics, opt_state)
            loss = float(optax.tree.get(opt_state, "value"))
        trace.add(clock, evaluations, loss, lambda p=params, s=state: problem.accuracy(p, s))
    return trace, problem.accuracy(params, state)


def run_scipy(problem: Problem, method: str, seed: int, budget: int, target: float):
    params, state = problem.init(seed)
    flat, unravel = ravel_pytree(params)
    x, t = problem.train

    @jax.jit
    def value_and_grad(w):
        f = lambda w: problem.loss(problem.model.apply(unravel(w), state, x)[0], t)  # noqa: E731
        return jax.value_and_grad(f)(w)

    jax.block_until_ready(value_and_grad(flat))  # compiled before the clock starts
    trace, count = Trace(target), [0]

    def fun(w):
        count[0] += 1
        value, grad = value_and_grad(jnp.asarray(w, jnp.float32))
        return float(value), np.asarray(grad, np.float64)

    def callback(intermediate_result):
        p = unravel(jnp.asarray(intermediate_result.x, jnp.float32))
        trace.add(clock, count[0], float(intermediate_result.fun),
                  lambda: problem.accuracy(p, state))  # fmt: skip
        if count[0] >= budget:
            raise StopIteration

    clock, options = Clock(), {"maxiter": budget, "gtol": 0.0}
    result = scipy.optimize.minimize(fun, np.asarray(flat, np.float64), jac=True, method=method,
                                     callback=callback, options=options)  # fmt: skip
    return trace, problem.accuracy(unravel(jnp.asarray(result.x, jnp.float32)), state)


def adam_target(problem: Problem, seed: int) -> float:
    """The training loss full-batch Adam reaches after ADAM_STEPS steps."""
    opt, step = problem.step("Adam (full batch)")
    params, state = problem.init(seed)
    opt_state = opt.init(params)
    for _ in range(ADAM_STEPS):
        params, state, opt_state, _ = step(params, state, opt_state, problem.train, None)
    logits, _ = problem.model.apply(params, state, problem.train[0])
    return float(problem.loss(logits, problem.train[1]))


METHODS = [*OPTAX_METHODS, *SCIPY_METHODS]


def run(problem: Problem, method: str, seed: int, budget: int, target: float):
    if method in SCIPY_METHODS:
        return run_scipy(problem, SCIPY_METHODS[method], seed, budget, target)
    return run_optax(problem, method, seed, budget, target)


def spread(values: list[float], fmt: str) -> str:
    """``median [min, max]`` of the finite values, and how many there are if some are not."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "not reached"
    text = f"{fmt.format(np.median(finite))} [{fmt.format(min(finite))}, {fmt.format(max(finite))}]"
    return text if len(finite) == len(values) else f"{text} ({len(finite)}/{len(values)})"


def table(name: str, targets: list[float], results: dict) -> list[str]:
    lines = [f"### {name} (target loss: Adam's after {ADAM_STEPS} steps, "
             f"{spread(targets, '{:.3g}')})", "",
             "| method | evaluations to target | ms to target | test acc. at target | "
             "final test acc. | final loss |", "|---|---|---|---|---|---|"]  # fmt: skip
    for method in METHODS:
        runs = results[method]
        hit = [r[0].hit or (math.nan, math.nan, math.nan) for r in runs]
        lines.append(
            f"| {method} | {spread([h[0] for h in hit], '{:.0f}')} | "
            f"{spread([1e3 * h[1] for h in hit], '{:.1f}')} | "
            f"{spread([h[2] for h in hit], '{:.3f}')} | {spread([r[1] for r in runs], '{:.3f}')} | "
            f"{spread([r[0].rows[-1][2] for r in runs], '{:.2e}')} |"
        )
    return [*lines, ""]


def ratios(results: dict, a: str, b: str, column: int) -> list[float]:
    """Per seed: ``a``'s evaluations (0) or seconds (1) to target over ``b``'s."""
    out = []
    for ra, rb in zip(results[a], results[b], strict=True):
        ha, hb = ra[0].hit, rb[0].hit
        out.append(ha[column] / hb[column] if ha and hb else math.nan)
    return out


def claims(name: str, results: dict) -> list[str]:
    pr, sp = "CG Polak–Ribière", "SciPy CG"
    evals, secs = ratios(results, pr, sp, 0), ratios(results, pr, sp, 1)
    line_search = ["CG Fletcher–Reeves", "CG Polak–Ribière", "CG Powell–Beale"]
    scg = [r[0].hit[0] if r[0].hit else math.nan for r in results["SCG"]]
    best = [min((results[m][i][0].hit or (math.inf,))[0] for m in line_search)
            for i in range(len(scg))]  # fmt: skip
    fewer = sum(s < b for s, b in zip(scg, best, strict=True))
    return [
        f"- {name}: PR/SciPy-CG evaluations {spread(evals, '{:.2f}')}, wall time "
        f"{spread(secs, '{:.2f}')}; SCG needs fewer evaluations than every line-search CG in "
        f"{fewer} of {len(scg)} seeds (SCG {spread(scg, '{:.0f}')}, best line search "
        f"{spread(best, '{:.0f}')})."
    ]


def plot(path: Path, traces: dict) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(traces), figsize=(5 * len(traces), 4))
    for ax, (name, (target, per_method)) in zip(axes, traces.items(), strict=True):
        for method, trace in per_method.items():
            e, _, loss = zip(*trace.rows, strict=True)
            ax.semilogy(e, np.maximum(loss, 1e-12), label=method, lw=1.2)
        ax.axhline(target, color="k", ls="--", lw=0.8, label="target (Adam, 500 steps)")
        ax.set(title=f"{name} (seed 0)", xlabel="loss-and-gradient evaluations",
               ylabel="training loss")  # fmt: skip
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(seeds: int, budget: int) -> None:
    lines = [
        "# Conjugate-gradient training compared",
        "",
        f"`python experiments/conjugate_gradient.py --seeds {seeds} --budget {budget}`; "
        f"jax {jax.__version__}, optax {optax.__version__}, scipy {scipy.__version__}, "
        f"{jax.devices()[0].platform}. Tanh MLPs (xor 2-8-2, iris 4-16-3, digits 64-32-10), "
        "float32, full batch, softmax cross-entropy, manual backward. Evaluations: calls of "
        "the loss and its gradient; wall time excludes compilation and test-accuracy "
        f"evaluation. Medians over {seeds} seeds [min, max]; a method that misses the target "
        f"within {budget} evaluations in some seeds shows (reached/seeds).",
        "",
    ]
    summary, traces = [], {}
    for name in PROBLEMS:
        problem = Problem(name)
        results = {m: [] for m in METHODS}
        targets = []
        for seed in range(seeds):
            target = adam_target(problem, seed)
            targets.append(target)
            for method in METHODS:
                results[method].append(run(problem, method, seed, budget, target))
            print(f"{name} seed {seed} done", flush=True)
        traces[name] = (targets[0], {m: results[m][0][0] for m in METHODS})
        lines += table(name, targets, results)
        summary += claims(name, results)
    lines += ["## The issue's targets", "", *summary, ""]
    OUT.mkdir(exist_ok=True)
    (OUT / "conjugate_gradient.md").write_text("\n".join(lines))
    plot(OUT / "conjugate_gradient.png", traces)
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="initialisation seeds (default 3)")
    parser.add_argument("--budget", type=int, default=600, help="evaluations per run (default 600)")
    args = parser.parse_args()
    main(args.seeds, args.budget)
