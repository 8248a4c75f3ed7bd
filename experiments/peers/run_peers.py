"""Run every peer benchmark, each in a process of its own, and write docs/peers.md.

Run: python experiments/peers/run_peers.py [--python PY] [--rounds R --steps S --models mlp cnn]

A process per peer because PyTorch's and XLA's thread pools compete when they share one. A
peer whose framework is not installed reports itself skipped; one that crashes or times out
is listed as failed; neither stops the others. See experiments/peers/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEER_SCRIPTS = ("flax_peer.py", "equinox_peer.py", "torch_peer.py")
WHAT_PEERS_RUN = """\
- **funcnet manual**: `funcnet.train.make_train_step(..., backward="manual")` — every layer's
  hand-written backward, `jax.jit`, params / state / optimizer state donated
  (`funcnet.bench.timing.train_step_runner`, as in `funcnet bench mlp|cnn`).
- **flax linen**: `nn.Dense` / `nn.Conv` / `nn.max_pool`, NHWC; `jax.jit` of a pure step
  (`jax.value_and_grad` → optax SGD), params and optimizer state donated.
- **flax nnx**: `nnx.Linear` / `nnx.Conv` / `nnx.max_pool`, NHWC; `nnx.jit` of a step that
  updates the module and an `nnx.Optimizer` in place (NNX's per-call Python work is timed).
- **equinox**: `eqx.nn.Sequential` on one example (CHW images) under `jax.vmap`;
  `eqx.filter_value_and_grad`, optax SGD, `eqx.filter_jit` donating model and optimizer state.
- **pytorch eager**: `nn.Sequential`, NCHW images, `F.cross_entropy`, `torch.optim.SGD`
  (`zero_grad` → `backward` → `step`) on the CPU with torch's default thread count; no
  `torch.compile`.
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter for the peers")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--timeout", type=int, default=600, help="seconds per peer process")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "peers.md")
    parser.add_argument(
        "--xla-defaults", action="store_true",
        help="leave XLA_FLAGS as they are (by default the peers run with the CPU flag the "
        "funcnet command sets, funcnet.cpu_flags, as funcnet's own benchmarks do)",
    )  # fmt: skip
    return parser.parse_args()


def peer_environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment of each peer process: this one's, plus funcnet's XLA:CPU flag (YNNPACK
    for dots only) unless ``--xla-defaults``; funcnet and the JAX peers share the process, so
    both run with it."""
    env = dict(os.environ)
    if not args.xla_defaults:
        from funcnet.cpu_flags import prefer_xla_convolutions

        prefer_xla_convolutions(env)
    return env


def run_script(args: argparse.Namespace, script: str) -> dict[str, Any]:
    """One peer script in its own process; its last stdout line is its JSON report."""
    command = [
        args.python, str(HERE / script), "--rounds", str(args.rounds), "--steps",
        str(args.steps), "--warmup", str(args.warmup), "--models", *args.models,
    ]  # fmt: skip
    print(f"running {script} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT,
            env=peer_environment(args),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"failed": {script: f"timed out after {args.timeout} s"}}
    sys.stderr.write(done.stderr)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        return {"failed": {script: f"exit status {done.returncode}: {tail}"}}
    return json.loads(lines[-1])


def cpu_description() -> str:
    """``lscpu``'s model name and core counts."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        return f"lscpu unavailable ({error})"
    fields = dict(
        (key.strip(), value.strip())
        for key, value in (line.split(":", 1) for line in out.splitlines() if ":" in line)
    )
    keys = ("Model name", "CPU(s)", "Socket(s)", "Core(s) per socket", "Thread(s) per core")
    return ", ".join(f"{key}: {fields[key]}" for key in keys if key in fields)


def markdown(args: argparse.Namespace, reports: list[dict[str, Any]], load: str) -> str:
    from funcnet.bench.registry import machine

    rows = [row for report in reports for row in report.get("rows", [])]
    versions = {k: v for report in reports for k, v in report.get("versions", {}).items()}
    skipped = {k: v for report in reports for k, v in report.get("skipped", {}).items()}
    failed = {k: v for report in reports for k, v in report.get("failed", {}).items()}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Peer benchmarks: funcnet's manual step vs Flax, Equinox and PyTorch",
        "",
        f"Written by `experiments/peers/run_peers.py` on {now}. One SGD training step "
        "(forward, backward, update; float32, lr 1e-2, softmax cross-entropy with integer "
        "labels) of the same network on the same synthetic batch (fixed seed), every "
        "framework starting from funcnet's initial weights; |Δ loss₀| is the difference "
        "between the peer's and funcnet's initial loss, evidence that both train the same "
        "network.",
        "",
        "- mlp: 784-512-512-10, relu, batch 128 (as `funcnet bench mlp`).",
        "- cnn: 28×28×1 → conv 3×3/32 SAME → relu → max-pool 2 → conv 3×3/64 SAME → relu → "
        "max-pool 2 → dense 10, batch 64 (as `funcnet bench cnn`).",
        "",
        f"Each peer runs in a process of its own, in which {args.rounds} rounds of "
        f"{args.steps} steps of the peer and of funcnet's manual-gradient step alternate "
        f"(after {args.warmup} warm-up steps each); the table gives median milliseconds per "
        "step over the rounds. **ratio = peer ms / funcnet ms**: above 1, funcnet's manual "
        "step is faster. funcnet is re-measured beside every peer, so its column varies "
        "between rows; compare ratios, not columns across rows.",
        "",
        "| model | peer | peer ms | funcnet ms | ratio | \\|Δ loss₀\\| |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['peer']} | {r['peer_ms']:.2f} | {r['funcnet_ms']:.2f} | "
            f"{r['ratio']:.2f} | {r['initial_loss_diff']:.1e} |"
        )
    lines.append("")
    lines += [f"- **skipped** {peer}: not installed ({why})" for peer, why in skipped.items()]
    lines += [f"- **failed** {script}: {why}" for script, why in failed.items()]
    info = machine()
    lines += [
        "",
        "## What each side runs",
        "",
        WHAT_PEERS_RUN,
        "## Machine",
        "",
        f"- CPU: {cpu_description()}",
        f"- `funcnet.bench.registry.machine()`: {json.dumps(info)}",
        f"- Load average (1, 5, 15 min) before and after the run: {load}. A shared machine: "
        "other work may have run at the same time, so single numbers are noisy; the "
        "interleaved rounds make the ratios more trustworthy than the times.",
        f"- `XLA_FLAGS` of the peer processes: `{peer_environment(args).get('XLA_FLAGS', '')}` "
        "(the `funcnet` command's CPU flag, `funcnet/cpu_flags.py`, unless `--xla-defaults`; "
        "the JAX peers share each process with funcnet, so they run with it too).",
        f"- `OMP_WAIT_POLICY`: {os.environ.get('OMP_WAIT_POLICY', 'unset')} (PyTorch's OpenMP "
        "threads spin while waiting unless it is `PASSIVE`; with other processes busy on the "
        "same cores that made PyTorch's steps several times slower in our trials).",
        "",
        "## Versions",
        "",
        "| package | version |",
        "|---|---|",
        f"| python | {info['python']} |",
        *(f"| {name} | {version} |" for name, version in sorted(versions.items())),
        "",
        "## Reproduce",
        "",
        "Install the peers in a virtual environment of their own (experiments/peers/README.md), "
        "then from the repository root:",
        "",
        "```",
        f"python experiments/peers/run_peers.py --rounds {args.rounds} --steps {args.steps} "
        f"--warmup {args.warmup} --models {' '.join(args.models)}",
        "```",
        "",
        "with that environment's `python` (or `--python` pointing at it). Each peer script "
        "also runs alone, e.g. `python experiments/peers/torch_peer.py --models cnn`, and "
        "prints its rows as JSON.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    before = os.getloadavg()
    reports = [run_script(args, script) for script in PEER_SCRIPTS]
    load = " → ".join(", ".join(f"{x:.2f}" for x in avg) for avg in (before, os.getloadavg()))
    args.output.write_text(markdown(args, reports, load))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
