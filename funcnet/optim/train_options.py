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

register_optimizer(
    "cg-fr",
    lambda recipe, epochs, steps: conjugate_gradient("fletcher_reeves", restart="dimension"),
    full_batch=True,
    help="Fletcher-Reeves conjugate gradient, zoom line search, full batch (traincgf)",
)
register_optimizer(
    "cg-pr",
    lambda recipe, epochs, steps: conjugate_gradient("polak_ribiere", restart="dimension"),
    full_batch=True,
    help="Polak-Ribiere conjugate gradient, zoom line search, full batch (traincgp)",
)
register_optimizer(
    "cg-pb",
    lambda recipe, epochs, steps: conjugate_gradient("polak_ribiere", restart="powell_beale"),
    full_batch=True,
    help="Polak-Ribiere with Powell-Beale restarts, full batch (traincgb)",
)
register_optimizer(
    "scg",
    lambda recipe, epochs, steps: scaled_conjugate_gradient(),
    full_batch=True,
    help="Moller's scaled conjugate gradient, no line search, full batch (trainscg)",
)
