"""Spiking neurons: discrete-time leaky integrate-and-fire layers (``lif``, recurrent ``rlif``)
as cells of the recurrent machinery, with surrogate spike derivatives. docs/spiking.md."""

from funcnet.layers.spiking.lif import lif, lif_op, rlif, rlif_op
from funcnet.layers.spiking.lif_cell import LIFState, SynapticLIFState

__all__ = ["LIFState", "SynapticLIFState", "lif", "lif_op", "rlif", "rlif_op"]
