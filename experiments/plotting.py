"""What the experiment scripts share for their optional plots (matplotlib is an extra)."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, or ``None`` without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def before_after(plt: Any, panels: list, *, neuron_label: str, time_label: str) -> Any:
    """A 2×2 figure, one column per ``(title, (times, neurons), draw)`` in ``panels``: the
    hidden spike raster on top, ``draw(ax)`` (the readout membranes) below."""
    fig, axes = plt.subplots(2, 2, figsize=(9, 5), sharex=True)
    for col, (title, (times, neurons), draw) in enumerate(panels):
        axes[0, col].scatter(times, neurons, s=3, color="black")
        axes[0, col].set_title(f"{title} training: hidden spikes")
        draw(axes[1, col])
        axes[1, col].set_xlabel(time_label)
        axes[1, col].legend(fontsize=7)
    axes[0, 0].set_ylabel(neuron_label)
    axes[1, 0].set_ylabel("readout membrane")
    fig.tight_layout()
    return fig
