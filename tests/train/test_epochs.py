"""run_epochs: every full batch of every epoch goes through the step once; history rows."""

import jax
import numpy as np

from funcnet.data.dataset import Dataset
from funcnet.train.epochs import run_epochs


def test_every_full_batch_is_stepped_once_per_epoch_and_rows_are_means():
    data = Dataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10, dtype=np.int32))
    seen = []

    def step(params, opt_state, x, labels):
        seen.append(np.asarray(labels))
        return params + 1, opt_state, float(len(seen)), 0.5

    params, opt_state, history = run_epochs(
        step, 0, "s", data, key=jax.random.key(0), epochs=2, batch_size=4,
        evaluate=lambda p: {"accuracy": p / 10},
    )  # fmt: skip
    assert params == 4 and opt_state == "s"  # 2 full batches of 4 per epoch, the rest dropped
    assert [len(b) for b in seen] == [4] * 4 and len(set(np.concatenate(seen[:2]))) == 8
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[0]["train_loss"] == 1.5 and history[1]["train_loss"] == 3.5  # means
    assert history[1]["train_accuracy"] == 0.5 and history[1]["eval_accuracy"] == 0.4
