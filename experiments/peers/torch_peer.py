"""Peer: the benchmark MLP and CNN in PyTorch eager mode on the CPU, timed against funcnet.

Run: python experiments/peers/torch_peer.py [--rounds R --steps S --models mlp cnn]
(usually through run_peers.py, which gives it a process of its own). Idiomatic PyTorch:
``nn.Sequential``, NCHW images, ``cross_entropy``, ``torch.optim.SGD``, ``zero_grad`` →
``backward`` → ``step``; no ``torch.compile``, default thread count. Weights are copied from
funcnet's init.
"""

from __future__ import annotations

import numpy as np
from harness import LEARNING_RATE, Problem, channels_first_head, run_peer, skip

try:
    import torch
    from torch import nn
except ImportError as error:
    skip("pytorch", error)


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.ascontiguousarray(a))  # a copy: funcnet's arrays are read-only


def torch_model(problem: Problem) -> tuple[nn.Module, torch.Tensor]:
    """The network with funcnet's initial weights, and the input batch in torch's layout."""
    (w1, b1), (w2, b2), (w3, b3) = problem.weights
    if problem.name == "mlp":
        model = nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        )
        trainable = [(model[0], w1.T, b1), (model[2], w2.T, b2), (model[4], w3.T, b3)]
        x = tensor(problem.x)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 10),
        )  # fmt: skip
        hwio_to_oihw = (3, 2, 0, 1)
        trainable = [
            (model[0], w1.transpose(hwio_to_oihw), b1),
            (model[3], w2.transpose(hwio_to_oihw), b2),
            (model[7], channels_first_head(w3).T, b3),
        ]
        x = tensor(problem.x.transpose(0, 3, 1, 2))
    with torch.no_grad():
        for layer, w, b in trainable:
            layer.weight.copy_(tensor(w))
            layer.bias.copy_(tensor(b))
    return model, x


def build_torch(problem: Problem):
    model, x = torch_model(problem)
    t = tensor(problem.t).long()
    with torch.no_grad():
        initial_loss = nn.functional.cross_entropy(model(x), t).item()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    model.train()

    def step() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), t)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step, initial_loss


if __name__ == "__main__":
    versions = {"torch": torch.__version__, "torch threads": str(torch.get_num_threads())}
    run_peer({"pytorch eager": build_torch}, versions)
