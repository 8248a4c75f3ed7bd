"""Exact spiking gradients against fourth-order central differences of the simulation."""

import numpy as np


def assert_matches_central_differences(loss, grads, args, seed=10, h=1e-5, rtol=1e-6):
    """Assert ``grads`` (one per argument) of the jitted scalar ``loss(*args)`` equal its
    central differences along a random unit direction per argument, within ``rtol`` of the
    gradient's norm, and that each directional derivative is not trivially zero."""
    rng = np.random.default_rng(seed)
    for i, g in enumerate(grads):
        g = np.asarray(g)
        u = rng.normal(size=g.shape)
        u /= np.linalg.norm(u)

        def at(s, i=i, u=u):
            return float(loss(*[a + s * u if j == i else a for j, a in enumerate(args)]))

        fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
        exact = float(np.vdot(g, u))
        assert abs(exact - fd) <= rtol * np.linalg.norm(g), (i, exact, fd)
        assert abs(exact) > 1e-3, (i, exact)
