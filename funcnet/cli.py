"""The ``funcnet`` command: ``check``, ``train`` and ``bench``.

Every subcommand takes ``--json`` to print exactly one JSON object on stdout; tables, progress
bars and logs go to stderr then, so stdout stays machine-readable. Arguments are checked before
any work: a bad one is a usage error (exit status 2) naming it, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from funcnet.cpu_flags import prefer_xla_convolutions

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


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
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


def check_train_args(args: argparse.Namespace) -> None:
    """Every ``funcnet train`` argument, before any work: a usage error (exit 2) if one is bad."""
    from funcnet.recipes import check_run
    from funcnet.train.checkpoint import CheckpointError
    from funcnet.train.fit import check_checkpoint_options

    if args.resume and args.checkpoint_dir is None:
        args.parser.error("argument --resume: expected --checkpoint-dir too, got none.")
    try:
        check_run(args.dataset, args.model, args.optimizer, args.epochs)
        check_checkpoint_options(args.checkpoint_dir, args.resume, args.checkpoint_every,
                                 checkpoint_every_steps=args.checkpoint_every_steps)  # fmt: skip
    except (ValueError, CheckpointError) as e:
        args.parser.error(str(e).removeprefix("funcnet train: ").removeprefix("fit: "))


def cmd_train(args: argparse.Namespace) -> int:
    from funcnet.recipes import run
    from funcnet.train.checkpoint import CheckpointError
    from funcnet.train.nonfinite import NonFiniteError
    from funcnet.verify import VerificationError

    check_train_args(args)
    log = _err if args.json else print
    try:
        result = run(
            args.dataset,
            args.model,
            optimizer=args.optimizer,
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
    except (VerificationError, NonFiniteError) as e:
        _err(str(e))
        return 1
    except CheckpointError as e:
        _err(str(e))
        return 2
    if args.json:
        _print_json(result)
    else:
        print(
            f"{result['model']} on {result['dataset']} ({result['backward']} gradients, "
            f"{result['optimizer']}): "
            f"test accuracy {result['test_accuracy']:.4f}, final train loss "
            f"{result['train_loss']:.4f}, {result['epochs']} epochs in "
            f"{result['train_seconds']:.1f} s; manual vs autodiff max rel err "
            f"{result['grad_check_max_rel_err']:.2e}"
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from funcnet.bench import BenchConfig, run_benchmarks
    from funcnet.bench.registry import check_benchmark_names
    from funcnet.bench.report import load_warning, machine_text, table

    try:
        check_benchmark_names(args.names)
    except ValueError as e:
        args.parser.error(str(e).removeprefix("funcnet bench: "))
    out = run_benchmarks(args.names, BenchConfig(rounds=args.rounds, steps=args.steps))
    warning = load_warning(out["machine"])
    if warning:
        _err(warning)
        out["warnings"] = [warning]
    if args.json:
        _print_json(out)
        return 0
    print(table(out["results"]))
    print(machine_text(out["machine"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    import funcnet.recipes  # noqa: F401  (registers the built-in datasets, models and recipes)
    from funcnet.bench import benchmark_names
    from funcnet.recipe_registry import DATASETS, MODELS, OPTIMIZERS, RECIPES

    parser = argparse.ArgumentParser(prog="funcnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    json_help = "print one JSON object on stdout (tables and logs go to stderr)"

    check = sub.add_parser("check", help="verify every registered op's hand-written backward")
    check.add_argument("ops", nargs="*", help="op names (all when none is given)")
    check.add_argument(
        "--dtype",
        action="append",
        choices=DTYPES,
        help="dtype to check in (repeatable; float64 when none is given)",
    )
    check.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random arguments, cotangents and directions (default 0)",
    )
    check.add_argument(
        "--seeds",
        type=_positive_int,
        default=1,
        help="run every case at this many seeds from --seed and report the smallest margin "
        "(tolerance / worst error) per check (default 1)",
    )
    check.add_argument(
        "--details",
        action="store_true",
        help="every case's per-leaf errors, tolerances and margins (as text, or in the JSON)",
    )
    check.add_argument("--json", action="store_true", help=json_help)
    check.set_defaults(func=cmd_check, parser=check)

    pairs = ", ".join(f"{m} on {d}" for d, m in RECIPES)
    train = sub.add_parser(
        "train",
        help="verify a model's gradients, then train it",
        description=f"Recipes exist for: {pairs}.",
    )
    train.add_argument(
        "--dataset", choices=list(DATASETS), default="digits", help="the dataset (default digits)"
    )
    train.add_argument(
        "--model",
        choices=list(MODELS),
        default="mlp",
        help="the model; it needs a recipe for the dataset (default mlp)",
    )
    train.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        default="adam",
        help="; ".join(f"{name}: {spec.help}" for name, spec in OPTIMIZERS.items())
        + " (default adam)",
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="epochs to train, >= 1 (the recipe's when omitted)",
    )
    train.add_argument(
        "--backward",
        choices=("manual", "autodiff"),
        default="manual",
        help="gradients from the hand-written backward or from JAX autodiff",
    )
    train.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of the initial weights and the data order (default 0)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--checkpoint-dir", help="save checkpoints here (see docs/checkpoints.md)")
    train.add_argument(
        "--checkpoint-every", type=_positive_int, default=1, help="epochs between saves (default 1)"
    )
    train.add_argument(
        "--checkpoint-every-steps", type=_positive_int, help="also save every this many steps"
    )
    train.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    train.add_argument("--json", action="store_true", help=json_help)
    train.set_defaults(func=cmd_train, parser=train)

    bench = sub.add_parser("bench", help="time manual vs autodiff training steps")
    bench.add_argument(
        "names",
        nargs="*",
        metavar="name",
        help=f"benchmarks to run, from {', '.join(benchmark_names())} (all when none is given)",
    )
    bench.add_argument(
        "--rounds",
        type=_positive_int,
        default=15,
        help="interleaved timing rounds; the median is reported (default 15)",
    )
    bench.add_argument(
        "--steps", type=_positive_int, default=10, help="steps per round (default 10)"
    )
    bench.add_argument("--json", action="store_true", help=json_help)
    bench.set_defaults(func=cmd_bench, parser=bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (2 for a usage error, after argparse's message)."""
    prefer_xla_convolutions()  # before JAX's CPU backend starts (funcnet/cpu_flags.py)
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except SystemExit as e:  # argparse's usage errors (2) and --help (0)
        return e.code if isinstance(e.code, int) else 2


if __name__ == "__main__":
    sys.exit(main())
