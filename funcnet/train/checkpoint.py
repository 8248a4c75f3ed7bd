"""Checkpoints: pytrees of arrays saved without pickle, written atomically, restored by template.

A checkpoint is one ``.npz`` file. Leaf ``i`` of the flattened tree is the member ``leaf_i``; the
member ``__tree__`` holds UTF-8 JSON with the format version, each leaf's path, shape and dtype,
and the caller's metadata (the epoch reached, the history). Restoring checks the file against a
template pytree (the freshly initialised one) and rebuilds the template's structure. A file
becomes visible under its final name only once it is complete (write to a temporary file, fsync,
``os.replace``, fsync the directory). See docs/checkpoints.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.train.checkpoint_errors import READ_ERRORS, CheckpointError, check_zip, damage

FORMAT_VERSION = 1
TREE_MEMBER = "__tree__"
_NAME = re.compile(r"^checkpoint_(\d+)\.npz$")
_PY_SCALARS = (bool, int, float, complex)


# ---------------------------------------------------------------------------------------------
# one file


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def _describe(leaf: Any) -> tuple[tuple[int, ...], str]:
    """``(shape, dtype name)`` of a leaf, array or Python scalar, as stored in the JSON."""
    if isinstance(leaf, _PY_SCALARS):
        return (), np.asarray(leaf).dtype.name
    if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
        raise CheckpointError(f"checkpoint: expected array leaves, got {type(leaf).__name__}.")
    return tuple(int(d) for d in leaf.shape), str(leaf.dtype)


def _encode(path: str, leaf: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    """The JSON entry for a leaf, and the plain numpy array (if any) that stores its bits."""
    shape, dtype = _describe(leaf)
    entry: dict[str, Any] = {"path": path, "shape": list(shape), "dtype": dtype}
    if _is_key(leaf):  # typed PRNG keys are stored as their raw uint32 words
        entry["key_impl"] = str(jax.random.key_impl(leaf))
        return entry, np.asarray(jax.random.key_data(leaf))
    array = np.asarray(leaf)
    if array.dtype == jax.dtypes.float0:  # the cotangent type of integers: no bits to store
        return entry, None
    if array.dtype.kind == "V":  # bfloat16, float8, int4 …: numpy can only save their bits
        array = array.view(np.dtype(f"uint{8 * array.dtype.itemsize}"))
    return entry, array


def _write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` so that it either does not change or is replaced by a complete file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points to them
        os.replace(tmp, path)  # atomic on POSIX and Windows within one file system
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save(path: str | os.PathLike, tree: Any, metadata: dict[str, Any] | None = None) -> Path:
    """Save the arrays of ``tree`` (and JSON-able ``metadata``) to ``path`` atomically.

    Leaves may be numpy or JAX arrays of any dtype (bfloat16, typed PRNG keys and float0
    included) or Python scalars; ``None`` and empty containers are structure, not leaves.
    """
    path = Path(path)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    entries, arrays = [], {}
    for i, (key_path, leaf) in enumerate(leaves):
        entry, array = _encode(jax.tree_util.keystr(key_path), leaf)
        if array is not None:
            entry["member"] = f"leaf_{i}"
            entry["stored_dtype"] = array.dtype.name
            arrays[entry["member"]] = array
        entries.append(entry)
    description = {
        "format": "funcnet-checkpoint",
        "version": FORMAT_VERSION,
        "treedef": str(treedef),  # for people reading the file; restore uses the template
        "leaves": entries,
        "metadata": metadata or {},
    }
    text = json.dumps(description).encode("utf-8")
    arrays[TREE_MEMBER] = np.frombuffer(text, dtype=np.uint8)
    _write_atomically(path, lambda f: np.savez(f, **arrays))
    return path


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The open archive of a checkpoint and its JSON description."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file.")
    with open(path, "rb") as file:  # ours to close, whatever np.load makes of the bytes
        check_zip(path, file)
        try:
            npz = np.load(file, allow_pickle=False)
        except READ_ERRORS as e:
            raise CheckpointError(f"checkpoint {path}: unreadable: {damage(e)}.") from None
        if not isinstance(npz, np.lib.npyio.NpzFile) or TREE_MEMBER not in npz.files:
            raise CheckpointError(f"checkpoint {path}: not a funcnet checkpoint.")
        raw = _member(path, npz, TREE_MEMBER).tobytes()
        try:
            description = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeError) as e:  # the zip's CRC held, so someone edited it
            raise CheckpointError(f"checkpoint {path}: unreadable description ({e}).") from e
        if description.get("format") != "funcnet-checkpoint" or "leaves" not in description:
            raise CheckpointError(f"checkpoint {path}: not a funcnet checkpoint.")
        if description.get("version") != FORMAT_VERSION:
            raise CheckpointError(f"checkpoint {path}: expected format version {FORMAT_VERSION}, "
                                  f"got {description.get('version')!r}.")  # fmt: skip
        yield npz, description


def _member(path: Path, npz: Any, name: str) -> np.ndarray:
    try:
        return npz[name]
    except READ_ERRORS as e:
        raise CheckpointError(
            f"checkpoint {path}: member {name!r} is unreadable: {damage(e)}."
        ) from None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata saved with a checkpoint, without reading its arrays."""
    with _opened(Path(path)) as (_, description):
        return description["metadata"]


def _check_against(path: Path, entries: list[dict], template: list[tuple[str, Any]]) -> None:
    saved = {e["path"]: e for e in entries}
    expected = dict(template)
    problems = []
    if missing := [p for p in expected if p not in saved]:
        problems.append(f"missing leaves {missing}")
    if extra := [p for p in saved if p not in expected]:
        problems.append(f"extra leaves {extra}")
    for p, leaf in expected.items():
        if p not in saved:
            continue
        shape, dtype = _describe(leaf)
        if tuple(saved[p]["shape"]) != shape:
            problems.append(f"leaf {p}: expected shape {shape}, got {tuple(saved[p]['shape'])}")
        if saved[p]["dtype"] != dtype:
            problems.append(f"leaf {p}: expected dtype {dtype}, got {saved[p]['dtype']}")
    if problems:
        raise CheckpointError(f"checkpoint {path}: does not match the template: "
                              f"{'; '.join(problems)}.")  # fmt: skip


def _decode(path: Path, entry: dict[str, Any], template_leaf: Any, npz: Any) -> Any:
    """The leaf stored by ``entry``, as the same kind of object as ``template_leaf``."""
    shape = tuple(entry["shape"])
    if "member" not in entry:
        value = np.zeros(shape, jax.dtypes.float0)
    else:
        value = _member(path, npz, entry["member"])
        if value.dtype.name != entry["stored_dtype"]:
            raise CheckpointError(f"checkpoint {path}: member {entry['member']!r} has dtype "
                                  f"{value.dtype}, expected {entry['stored_dtype']}.")  # fmt: skip
        if "key_impl" in entry:
            return jax.random.wrap_key_data(jnp.asarray(value), impl=entry["key_impl"])
        if value.dtype.name != entry["dtype"]:
            value = value.view(jnp.dtype(entry["dtype"]))
    if value.shape != shape:
        raise CheckpointError(f"checkpoint {path}: leaf {entry['path']} has shape {value.shape}, "
                              f"expected {shape}.")  # fmt: skip
    if isinstance(template_leaf, _PY_SCALARS):
        return type(template_leaf)(value.item())
    if isinstance(template_leaf, np.ndarray) or value.dtype == jax.dtypes.float0:
        return value
    weak = getattr(template_leaf, "weak_type", False) and value.ndim == 0
    array = jnp.asarray(value.item() if weak else value)  # a weak scalar promotes like one
    if array.dtype != value.dtype:  # float64 without jax_enable_x64: refuse to downcast
        raise CheckpointError(f"checkpoint {path}: leaf {entry['path']} of dtype {value.dtype} "
                              f"would become {array.dtype} as a JAX array.")  # fmt: skip
    return array


def restore(path: str | os.PathLike, template: Any) -> tuple[Any, dict[str, Any]]:
    """``(tree, metadata)`` from a checkpoint, in the structure of ``template``.

    ``template`` is a pytree like the one saved (the freshly initialised one); its leaves may be
    arrays or ``jax.ShapeDtypeStruct``s. Restored leaves are numpy arrays where the template has
    numpy arrays, Python scalars where it has those, and JAX arrays otherwise; every bit is
    the saved one.

    Raises:
      CheckpointError: the file is missing, truncated or corrupted, or its leaf paths, shapes or
        dtypes differ from the template's (the message names the file and each difference).

    Examples:
      >>> import tempfile, jax.numpy as jnp
      >>> with tempfile.TemporaryDirectory() as d:
      ...     path = save(Path(d) / "c.npz", {"w": jnp.ones(2), "b": None}, {"epoch": 1})
      ...     tree, meta = restore(path, {"w": jnp.zeros(2), "b": None})
      >>> tree["w"].tolist(), tree["b"], meta
      ([1.0, 1.0], None, {'epoch': 1})
    """
    path = Path(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    template_leaves = [(jax.tree_util.keystr(p), leaf) for p, leaf in flat]
    with _opened(path) as (npz, description):
        _check_against(path, description["leaves"], template_leaves)
        by_path = {e["path"]: e for e in description["leaves"]}
        leaves = [_decode(path, by_path[p], leaf, npz) for p, leaf in template_leaves]
    return jax.tree_util.tree_unflatten(treedef, leaves), description["metadata"]


# ---------------------------------------------------------------------------------------------
# a directory of numbered checkpoints


def checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of every complete checkpoint in ``directory``, oldest first.

    Only final names count: a writer killed mid-save leaves at most a hidden ``.tmp`` file,
    which never matches.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), directory / m.group(0))
             for m in map(_NAME.match, os.listdir(directory)) if m]  # fmt: skip
    return sorted(found)


def latest(directory: str | os.PathLike) -> Path | None:
    """The checkpoint with the highest step in ``directory``, or ``None`` when there is none."""
    found = checkpoints(directory)
    return found[-1][1] if found else None


def save_step(
    directory: str | os.PathLike,
    step: int,
    tree: Any,
    metadata: dict[str, Any] | None = None,
    *,
    keep: int | None = 3,
) -> Path:
    """Save ``checkpoint_<step>.npz`` in ``directory``, then delete all but the newest ``keep``.

    The newest checkpoint is the one with the highest step (the file names are the pointer), so
    the previous one is removed only after the new one is complete.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"checkpoint: expected a non-negative integer step, got {step!r}.")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ValueError(
            f"checkpoint: expected keep to be a positive integer or None, got {keep!r}."
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = save(directory / f"checkpoint_{step:010d}.npz", tree, metadata)
    if keep is not None:
        for _, old in checkpoints(directory)[:-keep]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    return path


__all__ = [
    "CheckpointError",
    "checkpoints",
    "latest",
    "read_metadata",
    "restore",
    "save",
    "save_step",
]
