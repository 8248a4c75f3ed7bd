"""The conjugate-gradient optimizers ``funcnet train --optimizer`` offers, MATLAB's four.

All four are full batch: one iteration per epoch over the whole training set.

============  =====================================================  ===============
name          optimizer                                              MATLAB
============  =====================================================  ===============
``cg-fr``     Fletcher–Reeves, restart every n iterations, zoom       ``traincgf``
``cg-pr``     Polak–Ribière, restart every n iterations, zoom         ``traincgp``
``cg-pb``     Polak–Ribière, Powell–Beale restarts, zoom              ``traincgb``
``scg``       Møller's scaled conjugate gradient                      ``trainscg``
============  =====================================================  ===============
"""

from __future__ import annotations

from funcnet.optim.conjugate_gradient import conjugate_gradient
from funcnet.optim.scaled_conjugate_gradient import scaled_conjugate_gradient
from funcnet.recipe_registry import register_optimizer

# name: (beta, restart, help)
_CONJUGATE_GRADIENTS = {
    "cg-fr": ("fletcher_reeves", "dimension", "Fletcher-Reeves conjugate gradient (traincgf)"),
    "cg-pr": ("polak_ribiere", "dimension", "Polak-Ribiere conjugate gradient (traincgp)"),
    "cg-pb": ("polak_ribiere", "powell_beale", "Polak-Ribiere, Powell-Beale restarts (traincgb)"),
}
for _name, (_beta, _restart, _help) in _CONJUGATE_GRADIENTS.items():
    register_optimizer(
        _name,
        lambda recipe, epochs, steps, b=_beta, r=_restart: conjugate_gradient(b, restart=r),
        full_batch=True,
        help=f"{_help}, zoom line search, full batch",
    )
register_optimizer(
    "scg",
    lambda recipe, epochs, steps: scaled_conjugate_gradient(),
    full_batch=True,
    help="Moller's scaled conjugate gradient, no line search, full batch (trainscg)",
)
