"""Wall time per training step: backprop vs DNI, one program vs update-unlocked modules, on one
CPU device and with the four modules on four (host) devices.

The script forces four host devices (XLA_FLAGS, set before JAX starts). Variants, same MLP:
  backprop     one compiled step of the one-grad objective with bp_lambda = 1;
  dni (1 prog) the same step with bp_lambda = 0 (adds the predictors' work);
  unlocked d   module by module (funcnet.dni.train_unlocked), staleness d, on device 0;
  4 devices    the same with module k's parameters and steps on device k (d = 1: the modules'
               work within a step is independent, so asynchronous dispatch overlaps it).
It also checks that the 4-device run computes what the one-device run does.

Run: nice -n 10 python experiments/dni_timing.py [--steps 60] [--width 512] [--batch 256]
Writes experiments/out/dni_timing.md.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import argparse
import pathlib
import time

import jax
import numpy as np
import optax

from funcnet import dni

OUT = pathlib.Path(__file__).parent / "out"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = jax.devices()
    hidden = (args.width,) * 3
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((args.steps, args.batch, 64)).astype(np.float32)
    ys = rng.integers(0, 10, (args.steps, args.batch)).astype(np.int32)
    data = list(zip(xs, ys, strict=True))
    optimizer = optax.adam(1e-3)

    def one_program(bp_lambda):
        model = dni.decoupled_mlp(hidden, 10, bp_lambda=bp_lambda)
        params = dni.init_decoupled(model, jax.random.key(0), (args.batch, 64))
        step, opt_state = dni.make_decoupled_step(model, optimizer), optimizer.init(params)

        def go():
            nonlocal params, opt_state
            for x, y in data:
                params, opt_state, loss, _ = step(params, opt_state, x, y)
            loss.block_until_ready()

        return go

    def unlocked(d, on_devices):
        model = dni.decoupled_mlp(hidden, 10)
        params = dni.init_decoupled(model, jax.random.key(0), (args.batch, 64))
        placed = devices[:4] if on_devices else [devices[0]] * 4
        steps = dni.make_module_steps(model, optimizer)
        box = {}

        def go():
            states = dni.init_unlocked(model, params, optimizer, placed)
            states, _ = dni.train_unlocked(model, states, optimizer, data, staleness=d,
                                           devices=placed, steps=steps)  # fmt: skip
            jax.block_until_ready(states)
            box["states"] = states

        return go, box

    variants = {"backprop (1 program)": one_program(1.0), "dni (1 program)": one_program(0.0)}
    boxes = {}
    for d in (0, 1):
        variants[f"unlocked d={d}, 1 device"], boxes[(d, False)] = unlocked(d, False)
    variants["unlocked d=1, 4 devices"], boxes[(1, True)] = unlocked(1, True)
    times = {name: [] for name in variants}
    for go in variants.values():
        go()  # compile
    for _ in range(args.repeats):  # alternate, so that load changes hit every variant alike
        for name, go in variants.items():
            start = time.perf_counter()
            go()
            times[name].append((time.perf_counter() - start) / args.steps * 1e3)
    one, four = boxes[(1, False)]["states"], boxes[(1, True)]["states"]
    pairs = zip(jax.tree.leaves(one), jax.tree.leaves(four), strict=True)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in pairs)
    where = [sorted(str(d) for d in jax.tree.leaves(s.params)[0].devices()) for s in four]
    base = np.median(times["backprop (1 program)"])
    lines = [
        "# DNI: wall time per training step",
        "",
        f"MLP {hidden} + output layer, batch {args.batch}, {args.steps} steps per timing, median "
        f"of {args.repeats} (alternating variants); {len(devices)} host devices forced with "
        f"XLA_FLAGS on a machine with {os.cpu_count()} cores (shared with other jobs: ratios "
        "from one run are what to read). Script: experiments/dni_timing.py.",
        "",
        "| variant | ms/step (median) | runs | vs backprop |",
        "|---|---|---|---|",
    ]
    for name, ts in times.items():
        runs = ", ".join(f"{t:.2f}" for t in ts)
        lines.append(f"| {name} | {np.median(ts):.2f} | {runs} | {np.median(ts) / base:.2f}× |")
    lines += [
        "",
        f"Modules' parameters in the 4-device run: {where}.",
        f"Largest difference between the 4-device and the 1-device run (d = 1): {diff:.2e}.",
    ]
    OUT.mkdir(exist_ok=True)
    (OUT / "dni_timing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
