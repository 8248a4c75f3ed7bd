"""Spiking neurons: discrete-time leaky integrate-and-fire layers (``lif``, recurrent ``rlif``),
the non-spiking ``leaky_integrator`` readout and the ``spike_count`` and ``first_spike_time``
readouts; continuous-time LIF neurons simulated event by
event with EventProp's exact gradient (``event_lif``) and the first-spike loss
as cells of the recurrent machinery, with surrogate spike derivatives. docs/spiking.md."""

from funcnet.layers.spiking.event_lif import EventLIFParams, event_lif, event_lif_op
from funcnet.layers.spiking.first_spike_loss import first_spike_cross_entropy
from funcnet.layers.spiking.leaky_integrator import (
    LeakyIntegratorParams,
    leaky_integrator,
    leaky_integrator_op,
)
from funcnet.layers.spiking.lif import lif, lif_op, rlif, rlif_op
from funcnet.layers.spiking.lif_cell import LIFState, SynapticLIFState
from funcnet.layers.spiking.max_voltage import MaxVoltageParams, max_voltage, max_voltage_op
from funcnet.layers.spiking.readouts import (
    first_spike_time,
    first_spike_time_op,
    spike_count,
    spike_count_op,
)

__all__ = [
    "EventLIFParams",
    "LIFState",
    "LeakyIntegratorParams",
    "MaxVoltageParams",
    "SynapticLIFState",
    "event_lif",
    "event_lif_op",
    "first_spike_cross_entropy",
    "first_spike_time",
    "first_spike_time_op",
    "leaky_integrator",
    "leaky_integrator_op",
    "lif",
    "lif_op",
    "max_voltage",
    "max_voltage_op",
    "rlif",
    "rlif_op",
    "spike_count",
    "spike_count_op",
]
