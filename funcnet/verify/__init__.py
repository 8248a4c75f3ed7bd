"""The verifier: manual backward vs JAX autodiff vs finite differences, under jit/vmap/eager.

Use :func:`verify_op` on one op, :func:`verify_registry` on every registered op, and
:func:`verify_model` on a whole model's parameter gradients. Each returns a :class:`Report`
(``.table()``, ``.to_json()``, ``.raise_if_failed()``).
"""

from funcnet.verify.model_check import verify_model
from funcnet.verify.op_check import verify_case, verify_op, verify_registry
from funcnet.verify.report import CaseReport, LeafError, Report, VerificationError
from funcnet.verify.tolerances import Tolerances, tolerances

__all__ = [
    "CaseReport",
    "LeafError",
    "Report",
    "Tolerances",
    "VerificationError",
    "tolerances",
    "verify_case",
    "verify_model",
    "verify_op",
    "verify_registry",
]
