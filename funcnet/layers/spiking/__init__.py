"""Spiking neurons: discrete-time leaky integrate-and-fire layers (``lif``, recurrent ``rlif``)
and the non-spiking ``leaky_integrator`` readout
as cells of the recurrent machinery, with surrogate spike derivatives. docs/spiking.md."""

from funcnet.layers.spiking.leaky_integrator import (
    LeakyIntegratorParams,
    leaky_integrator,
    leaky_integrator_op,
)
from funcnet.layers.spiking.lif import lif, lif_op, rlif, rlif_op
from funcnet.layers.spiking.lif_cell import LIFState, SynapticLIFState

__all__ = [
    "LIFState",
    "LeakyIntegratorParams",
    "SynapticLIFState",
    "leaky_integrator",
    "leaky_integrator_op",
    "lif",
    "lif_op",
    "rlif",
    "rlif_op",
]
