"""XLA:CPU's library choice for convolutions, set by the command line before JAX starts.

jaxlib 0.10 hands dots and convolutions to YNNPACK by default. For funcnet's CNNs YNNPACK's
convolutions are slower than XLA's own: the `funcnet bench cnn` step took 24 ms with them and
15–16 ms without, while dots lose speed without YNNPACK (MLP 3.3 → 3.8 ms, LSTM 45 → 57 ms,
transformer 47 → 50 ms). Keeping YNNPACK for dots only (``individual_dot``) keeps both
(docs/benchmarks.md, "CPU convolutions"). XLA reads ``XLA_FLAGS`` once, when its CPU backend starts,
so :func:`prefer_xla_convolutions` must run before any computation; the ``funcnet`` command
calls it first. A library user sets the flag in the environment instead.
"""

from __future__ import annotations

import os
from importlib import metadata

FLAG = "--xla_cpu_experimental_ynn_fusion_type=individual_dot"
# The jaxlib releases the flag was measured with; an unknown XLA flag aborts the process.
MEASURED_JAXLIB = ("0.10.",)


def prefer_xla_convolutions(environ: dict[str, str] | None = None) -> bool:
    """Add :data:`FLAG` to ``XLA_FLAGS`` unless the user chose a YNNPACK fusion setting or the
    installed jaxlib is not one it was measured with; return whether it was added."""
    env = os.environ if environ is None else environ
    flags = env.get("XLA_FLAGS", "")
    if "ynn_fusion_type" in flags:
        return False
    try:
        version = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return False
    if not version.startswith(MEASURED_JAXLIB):
        return False
    env["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return True
