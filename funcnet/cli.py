"""The ``funcnet`` command: ``check``, ``train`` and ``bench``.

Every subcommand takes ``--json`` to print exactly one JSON object on stdout; tables, progress
bars and logs go to stderr then, so stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

DTYPES = ("float64", "float32", "bfloat16", "float16")


def _print_json(obj: Any) -> None:
    from funcnet.jsonable import jsonable

    json.dump(jsonable(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def cmd_check(args: argparse.Namespace) -> int:
    import funcnet  # noqa: F401  (registers every op)
    from funcnet.core import registry
    from funcnet.verify import verify_registry

    names = args.ops or None
    if names:
        unknown = [n for n in names if n not in registry.op_names()]
        if unknown:
            _err(f"funcnet check: unknown ops {unknown}; known: {', '.join(registry.op_names())}")
            return 2
    seeds = range(args.seed, args.seed + args.seeds)
    report = verify_registry(names, dtypes=tuple(args.dtype or ["float64"]), seeds=seeds)
    if args.json:
        _print_json(report.to_json(details=args.details))
    else:
        print(report.details() if args.details else report.table())
        print(f"\n{'all ops passed' if report.passed else 'FAILED'} ({len(report.cases)} cases)")
    return 0 if report.passed else 1


def cmd_train(args: argparse.Namespace) -> int:
    from funcnet.recipes import run
    from funcnet.train.checkpoint import CheckpointError
    from funcnet.verify import VerificationError

    if args.resume and args.checkpoint_dir is None:
        _err("funcnet train: --resume needs --checkpoint-dir.")
        return 2
    log = _err if args.json else print
    try:
        result = run(
            args.dataset,
            args.model,
            epochs=args.epochs,
            backward=args.backward,
            seed=args.seed,
            progress=not args.no_progress,
            log=log,
            checkpoint_dir=args.checkpoint_dir,
            checkpoint_every=args.checkpoint_every,
            checkpoint_every_steps=args.checkpoint_every_steps,
            resume=args.resume,
        )
    except VerificationError as e:
        _err(str(e))
        return 1
    except CheckpointError as e:
        _err(str(e))
        return 2
    if args.json:
        _print_json(result)
    else:
        print(
            f"{result['model']} on {result['dataset']} ({result['backward']} gradients): "
            f"test accuracy {result['test_accuracy']:.4f}, final train loss "
            f"{result['train_loss']:.4f}, {result['epochs']} epochs in "
            f"{result['train_seconds']:.1f} s; manual vs autodiff max rel err "
            f"{result['grad_check_max_rel_err']:.2e}"
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from funcnet.bench import BenchConfig, run_benchmarks
    from funcnet.bench.registry import check_benchmark_names

    try:
        check_benchmark_names(args.names)
    except ValueError as e:
        _err(str(e))
        return 2
    out = run_benchmarks(args.names, BenchConfig(rounds=args.rounds, steps=args.steps))
    if args.json:
        _print_json(out)
        return 0
    for row in out["results"]:
        print(
            f"{row['model']}: manual {row['manual_ms']:.3f} ms, autodiff {row['autodiff_ms']:.3f} "
            f"ms, ratio {row['ratio']:.2f}; compile {row['manual_compile_s']:.2f} s / "
            f"{row['autodiff_compile_s']:.2f} s; temp memory {row['manual_temp_bytes']} / "
            f"{row['autodiff_temp_bytes']} bytes (ratio {row['memory_ratio']:.2f})"
        )
    print(json.dumps(out["machine"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from funcnet.recipes import DATASETS, MODELS

    parser = argparse.ArgumentParser(prog="funcnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="verify every registered op's hand-written backward")
    check.add_argument("ops", nargs="*", help="op names (all when none is given)")
    check.add_argument("--dtype", action="append", choices=DTYPES, help="repeatable")
    check.add_argument("--seed", type=int, default=0, help="the seed of the draws (default 0)")
    check.add_argument(
        "--seeds",
        type=_positive_int,
        default=1,
        help="run every case at this many seeds from --seed and report the smallest margin "
        "(tolerance / worst error) per check",
    )
    check.add_argument(
        "--details", action="store_true", help="every case's per-leaf errors (text, or in the JSON)"
    )
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)

    train = sub.add_parser("train", help="verify a model's gradients, then train it")
    train.add_argument("--dataset", choices=DATASETS, default="digits")
    train.add_argument("--model", choices=MODELS, default="mlp")
    train.add_argument("--epochs", type=int, default=None, help="the recipe's when omitted")
    train.add_argument("--backward", choices=("manual", "autodiff"), default="manual")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-progress", action="store_true")
    train.add_argument("--checkpoint-dir", help="save checkpoints here (see docs/checkpoints.md)")
    train.add_argument(
        "--checkpoint-every", type=_positive_int, default=1, help="epochs between saves"
    )
    train.add_argument(
        "--checkpoint-every-steps", type=_positive_int, help="also save every this many steps"
    )
    train.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    train.add_argument("--json", action="store_true")
    train.set_defaults(func=cmd_train)

    bench = sub.add_parser("bench", help="time manual vs autodiff training steps")
    bench.add_argument("names", nargs="*", help="benchmark names (all when none is given)")
    bench.add_argument("--rounds", type=int, default=15)
    bench.add_argument("--steps", type=int, default=10)
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
