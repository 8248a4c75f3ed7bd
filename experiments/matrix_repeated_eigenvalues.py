"""Matrix-function gradients at exactly repeated eigenvalues: funcnet's Daleckii–Krein backward
and autodiff through ``jnp.linalg.eigh``, against central differences.

Run: python experiments/matrix_repeated_eigenvalues.py
For each input and function the gradient of ``⟨G, f(sym A)⟩`` is compared entry by entry with
five-point central differences (step ``1e-3·λ_min``) of an independent float64 forward (NumPy's
LAPACK ``eigh``, ``V f(Λ) Vᵀ``, which is continuous at repeats). Errors are normwise,
``max|g − g_fd| / max|g_fd|``. Writes experiments/out/matrix_repeated_eigenvalues.md.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.layers.matrix import matrix_log_op, matrix_power_op, matrix_sqrt_op

FUNCTIONS = {
    "log": (matrix_log_op(), np.log),
    "sqrt": (matrix_sqrt_op(), np.sqrt),
    "power(-0.5)": (matrix_power_op(-0.5), lambda x: x**-0.5),
}


def rotated(eigenvalues, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    a = q @ np.diag(eigenvalues) @ q.T
    return (a + a.T) / 2


def covariance(positions, channels, eps, seed=1):
    x = np.random.default_rng(seed).standard_normal((positions, channels))
    x = x - x.mean(axis=0)
    return x.T @ x / positions + eps * np.eye(channels)


INPUTS = {
    "I (3×3)": np.eye(3),
    "diag(1, 1, 2)": np.diag([1.0, 1.0, 2.0]),
    "Q diag(1, 1, 2) Qᵀ": rotated([1.0, 1.0, 2.0]),
    "rank-1 covariance (4×4) + 0.1 I": covariance(2, 4, 0.1),
    "rank-3 covariance (8×8) + 1e-3 I": covariance(4, 8, 1e-3),
}


def central_differences(f, a, g):
    """Five-point central differences (error O(h⁴)) with ``h = 1e-3·λ_min``, entry by entry."""

    def value(a):
        lam, v = np.linalg.eigh((a + a.T) / 2)
        return np.sum(g * ((v * f(lam)) @ v.T))

    h = 1e-3 * np.linalg.eigvalsh(a).min()
    grad = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[index] = h
        stencil = -value(a + 2 * e) + 8 * value(a + e) - 8 * value(a - e) + value(a - 2 * e)
        grad[index] = stencil / (12 * h)
    return grad


def error(op, a, g, reference, dtype, backward) -> str:
    gd = jnp.asarray(g, dtype)
    fn = jax.jit(jax.grad(lambda a: jnp.sum(gd * op(a, backward=backward))))
    got = np.asarray(fn(jnp.asarray(a, dtype)), np.float64)
    if not np.all(np.isfinite(got)):
        return f"**non-finite** ({np.sum(~np.isfinite(got))}/{got.size} entries)"
    return f"{np.max(np.abs(got - reference)) / np.max(np.abs(reference)):.1e}"


def main() -> None:
    lines = [
        "# Matrix-function gradients at exactly repeated eigenvalues",
        "",
        "Normwise relative error of the gradient of ⟨G, f(A)⟩ against float64 five-point "
        "central differences of an independent forward (NumPy's eigh); *non-finite* counts the "
        "NaN or inf entries. Script: experiments/matrix_repeated_eigenvalues.py.",
        "",
        "| input | f | funcnet float64 | autodiff (eigh) float64 | funcnet float32 | "
        "autodiff (eigh) float32 |",
        "|---|---|---|---|---|---|",
    ]
    with jax.enable_x64(True):
        for label, a in INPUTS.items():
            g = np.random.default_rng(2).standard_normal(a.shape)
            for name, (op, f) in FUNCTIONS.items():
                reference = central_differences(f, a, g)
                cells = [error(op, a, g, reference, dtype, backward)
                         for dtype in (jnp.float64, jnp.float32)
                         for backward in ("manual", "autodiff")]  # fmt: skip
                lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "matrix_repeated_eigenvalues.md").write_text(text)


if __name__ == "__main__":
    main()
