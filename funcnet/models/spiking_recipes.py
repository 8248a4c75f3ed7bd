"""The spiking models in ``funcnet train``.

``--model lif``: a discrete-time LIF network with surrogate gradients
(:func:`~funcnet.models.spiking.lif_classifier`) on spike trains, Yin-Yang latency-coded (a
small value fires early), digits rate-coded (a pixel fires at each step with its intensity as
probability; a latency code reached 92.4% against the rate code's 96.8%,
experiments/out/digits_lif_vs_ann.md),
trained by ``fit``; its gradient check is the manual backward against autodiff of the
surrogates' gradient references (finite differences do not apply to a surrogate).

``--model eventprop``: two layers of event-based LIF neurons
(:func:`~funcnet.models.spiking.event_classifier`) on spike times, trained on the first-spike
loss by EventProp with weight bumping (:mod:`~funcnet.models.eventprop_fit`); its gradient is
exact, so the check is the manual backward against autodiff of the event simulation and
against finite differences.
"""

from __future__ import annotations

import time
from typing import Any

import jax

from funcnet.data.dataset import Dataset
from funcnet.data.yin_yang import latency_code, rate_code, spike_time_code
from funcnet.layers.spiking import first_spike_cross_entropy
from funcnet.models.eventprop_fit import fit_eventprop
from funcnet.models.spiking import event_classifier, lif_classifier
from funcnet.recipe_registry import (
    LOSSES,
    DatasetSpec,
    OptimizerSpec,
    Recipe,
    register_loss,
    register_model,
    register_recipe,
)
from funcnet.recipe_result import train_result
from funcnet.verify import verify_model

GRAD_CHECK_EXAMPLES = 16
CODES = {  # (x in [0, 1], num_steps) -> spike trains [n, T, F]
    "latency": latency_code,  # a small value fires early
    "latency_bright_first": lambda x, num_steps: latency_code(1.0 - x, num_steps),
    "rate": rate_code,  # each step a spike with probability x (a fixed draw, seed 0)
}


def encode_spike_trains(recipe: Recipe, data: Dataset) -> Dataset:
    """The recipe's spike-train code of ``data.x`` (options ``code``, ``num_steps``)."""
    options = recipe.options or {}
    return Dataset(CODES[options["code"]](data.x, options["num_steps"]), data.y)


def encode_spike_times(recipe: Recipe, data: Dataset) -> Dataset:
    """One spike per input between ``t_early`` and ``t_late``, and a bias spike at 0."""
    options = recipe.options or {}
    times = spike_time_code(data.x, t_early=options["t_early"], t_late=options["t_late"])
    return Dataset(times, data.y)


def build_lif(recipe: Recipe, dataset: DatasetSpec | None, num_classes: int):
    return lif_classifier(recipe.hidden_features[0], num_classes)


def build_eventprop(recipe: Recipe, dataset: DatasetSpec | None, num_classes: int):
    options = recipe.options or {}
    return event_classifier(recipe.hidden_features[0], num_classes,
                            max_spikes=options["max_spikes"], t_max=options["t_max"])  # fmt: skip


def train_eventprop(
    recipe: Recipe,
    train: Dataset,
    test: Dataset,
    *,
    dataset: str,
    optimizer: OptimizerSpec,
    epochs: int,
    seed: int,
    backward: Any,
    progress: bool,
    log: Any,
) -> dict[str, Any]:
    """Check the EventProp gradient, train, and return ``funcnet train``'s result fields."""
    if optimizer.full_batch:
        raise ValueError(f"funcnet train: expected a mini-batch optimizer for model 'eventprop', "
                         f"got {optimizer.name!r}.")  # fmt: skip
    options = recipe.options or {}
    num_classes = int(max(train.y.max(), test.y.max())) + 1
    net, loss = build_eventprop(recipe, None, num_classes), LOSSES[recipe.loss]()
    batch_size = min(recipe.batch_size, len(train))
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    _, params, state = net.init(init_key, (GRAD_CHECK_EXAMPLES, *train.x.shape[1:]))
    sample = (train.x[:GRAD_CHECK_EXAMPLES], train.y[:GRAD_CHECK_EXAMPLES])
    report = verify_model(net, params, state, sample, loss, name=f"eventprop/{dataset}")
    if log is not None:
        log(report.table())
    report.raise_if_failed()
    start = time.perf_counter()
    params, history = fit_eventprop(
        net, loss, params, optimizer.make(recipe, epochs, len(train) // batch_size), train,
        key=fit_key, epochs=epochs, batch_size=batch_size, bump=options["bump"],
        t_max=options["t_max"], eval_data=test, backward=backward, progress=progress,
    )  # fmt: skip
    result = train_result(
        dataset=dataset, model="eventprop", optimizer=optimizer.name, backward=backward,
        epochs=epochs, seed=seed, data=(train, test), history=history,
        train_seconds=time.perf_counter() - start, params=params, check=report.cases[0],
    )  # fmt: skip
    return {**result, "hidden_overflow": history[-1]["eval_hidden_overflow"]}


def register_spiking_recipes() -> None:
    """Offer ``lif`` on yin_yang and digits, ``eventprop`` on yin_yang (called by
    :mod:`funcnet.recipes`, once the datasets are registered)."""
    register_loss("first_spike_cross_entropy", first_spike_cross_entropy)
    register_model("lif", build_lif, encode=encode_spike_trains)
    register_model("eventprop", build_eventprop, train=train_eventprop, encode=encode_spike_times)
    # yin_yang: experiments/yin_yang_snn.py's network and optimizer, fewer epochs
    register_recipe(
        "yin_yang",
        "lif",
        Recipe(
            (120,), 3e-3, epochs=60, batch_size=64, options={"code": "latency", "num_steps": 20}
        ),
    )
    register_recipe("digits", "lif", Recipe((128,), 2e-3, epochs=40, batch_size=32,
                                            options={"code": "rate", "num_steps": 20}))  # fmt: skip
    # experiments/yin_yang_eventprop.py's: the EventProp paper's code, loss and weight bumping
    register_recipe(
        "yin_yang",
        "eventprop",
        Recipe((100,), 2e-3, epochs=40, batch_size=64, loss="first_spike_cross_entropy",
               options={"t_early": 0.15, "t_late": 2.0, "max_spikes": 3, "t_max": 4.0,
                        "bump": 5e-3}),
    )  # fmt: skip
