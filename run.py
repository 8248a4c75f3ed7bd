#!/usr/bin/env python3
"""Set up and run funcnet from a fresh clone with nothing but Python >= 3.10 and pip.

    python3 run.py train [ARGS...]   # the main job: `funcnet train` (digits MLP, manual grads)
    python3 run.py test [ARGS...]    # the test suite (pytest)
    python3 run.py funcnet ARGS...   # any funcnet command, e.g. `check` or `bench`

The first call creates ./.venv and installs funcnet with its data and test extras into it;
later calls reinstall only when pyproject.toml has changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".funcnet-installed"


def ensure_environment() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"run.py: creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print("run.py: installing funcnet[data,test,plot] (first run only)", file=sys.stderr)
    subprocess.run([*pip, "-e", f"{ROOT}[data,test,plot]"], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("train", "test", "funcnet"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "test":
        cmd = [str(BIN / "python"), "-m", "pytest", *rest]
    elif command == "train":
        cmd = [str(BIN / "funcnet"), "train", *rest]
    else:
        cmd = [str(BIN / "funcnet"), *rest]
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
