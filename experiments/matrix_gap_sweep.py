"""Matrix-function gradients at near-repeated eigenvalues: funcnet's Daleckii–Krein backward
against autodiff through ``jnp.linalg.eigh``, in float64 and float32.

Run: python experiments/matrix_gap_sweep.py
The input ``A = [[2, d, 0], [d, 2, 0], [0, 0, 4]]`` is exact in both dtypes for every ``d`` (a
float32 ``d = 5e-13`` is representable, even though ``2 ± d`` is not), and its eigensystem is
known in closed form: eigenvalues ``2 − d, 2 + d, 4`` (gap ``2d``), eigenvectors
``(1, −1, 0)/√2, (1, 1, 0)/√2, e₃``. The gradient of ``⟨G, f(A)⟩`` is then
``V (L ∘ (Vᵀ sym(G) V)) Vᵀ`` with the divided differences of the near-repeated pair in closed
forms that do not cancel (``t = d/2``), evaluated in float64 at the input's exact values:

    log: atanh(t)/d      sqrt: 1/(√(2+d) + √(2−d))      x^p: 2^p·(1 − t²)^(p/2)·sinh(p·atanh t)/d

The script reports the normwise relative error ``max|g − g_ref| / max|g_ref|`` of each method
for gaps 2d from 1e-2 to 1e-12 (and 0), writes experiments/out/matrix_gap_sweep.md and, with
matplotlib, experiments/out/matrix_gap_sweep.png.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from plotting import pyplot

from funcnet.layers.matrix import matrix_log_op, matrix_power_op, matrix_sqrt_op

GAPS = [10.0**-k for k in range(2, 13)] + [0.0]
P = -0.5
FUNCTIONS = {
    # name: (op, f, f′, divided difference of the pair (1 − d, 1 + d))
    "log": (matrix_log_op(), np.log, lambda x: 1 / x,
            lambda d: np.arctanh(d / 2) / d if d else 0.5),
    "sqrt": (matrix_sqrt_op(), np.sqrt, lambda x: 0.5 / np.sqrt(x),
             lambda d: 1 / (np.sqrt(2 + d) + np.sqrt(2 - d))),
    f"power({P})": (matrix_power_op(P), lambda x: x**P, lambda x: P * x ** (P - 1),
                    lambda d: 2**P * (1 - d * d / 4) ** (P / 2) * np.sinh(P * np.arctanh(d / 2))
                    / d if d else P * 2 ** (P - 1)),
}  # fmt: skip
G = np.random.default_rng(0).standard_normal((3, 3))


def closed_form_gradient(name: str, d: float) -> np.ndarray:
    """The exact gradient of ⟨G, f(A)⟩ at the matrix with off-diagonal ``d`` (float64)."""
    _, f, df, pair = FUNCTIONS[name]
    s = 1 / np.sqrt(2)
    v = np.array([[s, s, 0.0], [-s, s, 0.0], [0.0, 0.0, 1.0]])
    lam = np.array([2 - d, 2 + d, 4.0])
    dd = np.diag(df(lam))
    dd[0, 1] = dd[1, 0] = pair(d)
    for i in (0, 1):
        dd[i, 2] = dd[2, i] = (f(4.0) - f(lam[i])) / (4.0 - lam[i])
    sym = (G + G.T) / 2
    return v @ (dd * (v.T @ sym @ v)) @ v.T


def gradient(op, a: jax.Array, backward: str) -> np.ndarray:
    g = jnp.asarray(G, a.dtype)
    return np.asarray(jax.grad(lambda a: jnp.sum(g * op(a, backward=backward)))(a), np.float64)


def sweep(dtype) -> dict:
    """``{(function, method): [relative error per gap]}`` (inf where not finite)."""
    errors: dict = {}
    for gap in GAPS:
        d = float(np.asarray(gap / 2, dtype))  # the value the dtype holds
        a = np.array([[2.0, d, 0.0], [d, 2.0, 0.0], [0.0, 0.0, 4.0]])
        for name, (op, *_) in FUNCTIONS.items():
            reference = closed_form_gradient(name, d)
            for method in ("manual", "autodiff"):
                g = gradient(op, jnp.asarray(a, dtype), method)
                err = np.max(np.abs(g - reference)) / np.max(np.abs(reference))
                errors.setdefault((name, method), []).append(err if np.isfinite(err) else np.inf)
    return errors


def table(results: dict) -> str:
    header = "| dtype | function | backward | " + " | ".join(f"{g:.0e}" for g in GAPS) + " |"
    lines = [header, "|" + "---|" * (3 + len(GAPS))]
    for dtype, errors in results.items():
        for (name, method), errs in errors.items():
            label = "funcnet" if method == "manual" else "autodiff (eigh)"
            cells = " | ".join("non-finite" if np.isinf(e) else f"{e:.1e}" for e in errs)
            lines.append(f"| {dtype} | {name} | {label} | {cells} |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    gaps = np.array(GAPS[:-1])
    for ax, (dtype, errors) in zip(axes, results.items(), strict=True):
        for (name, method), errs in errors.items():
            errs = np.minimum(np.array(errs[:-1]), 1e3)  # non-finite drawn at the top
            style = "-o" if method == "manual" else "--x"
            label = f"{name}, {'funcnet' if method == 'manual' else 'autodiff (eigh)'}"
            ax.loglog(gaps, np.maximum(errs, 1e-17), style, label=label, markersize=4)
        ax.set_title(f"{dtype}: gradient of ⟨G, f(A)⟩")
        ax.set_xlabel("eigenvalue gap")
        ax.invert_xaxis()
    axes[0].set_ylabel("relative error (non-finite at 1e3)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    out = Path(__file__).parent / "out"
    with jax.enable_x64(True):
        results = {"float64": sweep(jnp.float64), "float32": sweep(jnp.float32)}
    text = (
        "# Matrix-function gradients at near-repeated eigenvalues\n\n"
        "Normwise relative error of the gradient of ⟨G, f(A)⟩ against the closed form, per "
        "eigenvalue gap (columns; 0 is an exact repeat). Script: experiments/matrix_gap_sweep.py."
        "\n\n" + table(results) + "\n"
    )
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "matrix_gap_sweep.md").write_text(text)
    plot(results, out / "matrix_gap_sweep.png")


if __name__ == "__main__":
    main()
