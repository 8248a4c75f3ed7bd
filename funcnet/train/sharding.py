"""Data parallelism through ``jax.sharding``: the batch split over a mesh axis, the rest replicated.

A :class:`~jax.sharding.Mesh` names the devices; ``NamedSharding(mesh, P("data"))`` splits an
array's leading (batch) axis over the mesh axis ``"data"`` and ``NamedSharding(mesh, P())``
keeps a full copy on every device. Given those shardings, ``jax.jit`` compiles one SPMD
program: XLA's partitioner runs the forward and backward on each device's slice of the batch
and inserts the all-reduce that sums the parameter gradients. The same code runs on one CPU, on
the GPUs of one host and, after ``jax.distributed.initialize()``, on many hosts.
See docs/distributed.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named ``"data"`` over ``devices`` (all of ``jax.devices()`` by default).

    Examples:
      >>> mesh = data_mesh()
      >>> mesh.axis_names, mesh.shape["data"] == len(jax.devices())
      (('data',), True)
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("data_mesh: expected at least one device, got none.")
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def check_mesh(mesh: Any, where: str) -> None:
    """Raise unless ``mesh`` is a :class:`~jax.sharding.Mesh` with a ``"data"`` axis."""
    if not isinstance(mesh, Mesh):
        raise ValueError(f"{where}: expected mesh to be a jax.sharding.Mesh, got {mesh!r}.")
    if DATA_AXIS not in mesh.axis_names:
        raise ValueError(
            f"{where}: expected a mesh with an axis named {DATA_AXIS!r}, "
            f"got axes {mesh.axis_names}."
        )


def data_devices(mesh: Mesh) -> int:
    """How many ways the batch is split: the size of the mesh's ``"data"`` axis."""
    return int(mesh.shape[DATA_AXIS])


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over ``"data"``, every other axis (and other mesh axes) replicated."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def check_batch_divisible(batch: Any, mesh: Mesh, where: str) -> None:
    """Raise a ValueError unless every leaf of ``batch`` has a leading axis the ``"data"``
    devices divide evenly (the global batch size on several hosts)."""
    _check_batch_size(batch, data_devices(mesh), where)


def check_batch_size(size: int | None, devices: int, where: str) -> None:
    """Raise a ValueError unless ``devices`` divide the batch size ``size`` (None: a scalar)."""
    if size is None or size % devices:
        raise ValueError(
            f"{where}: expected a batch size divisible by the {devices} devices of the mesh "
            f"axis {DATA_AXIS!r}, got batch size {'none (a scalar)' if size is None else size}."
        )


def _check_batch_size(batch: Any, devices: int, where: str) -> None:
    for leaf in jax.tree.leaves(batch):
        shape = leaf.shape if hasattr(leaf, "shape") else np.shape(leaf)  # np.shape costs 2 µs
        check_batch_size(shape[0] if shape else None, devices, where)


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Place ``batch`` (a pytree of ``[B, ...]`` arrays) split along ``B`` over ``"data"``.

    On one host ``batch`` is the whole batch. When several processes share the mesh
    (``jax.process_count() > 1``) each passes its own slice, and the global batch is the
    concatenation of the processes' slices in process order
    (``jax.make_array_from_process_local_data``).

    Examples:
      >>> import numpy as np
      >>> x = shard_batch(np.zeros((8, 3), np.float32), data_mesh())
      >>> x.shape, tuple(x.sharding.spec)
      ((8, 3), ('data',))
    """
    check_mesh(mesh, "shard_batch")
    sharding = batch_sharding(mesh)
    if jax.process_count() == 1:
        check_batch_divisible(batch, mesh, "shard_batch")
        return jax.device_put(batch, sharding)
    processes = jax.process_count()  # every process passes a slice of the same size
    check_batch_divisible(jax.tree.map(lambda a: _global_shape(a, processes), batch), mesh,
                          "shard_batch")  # fmt: skip
    return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a), batch)


def _global_shape(local: Any, processes: int) -> jax.ShapeDtypeStruct:
    shape = np.shape(local)
    return jax.ShapeDtypeStruct((shape[0] * processes, *shape[1:]) if shape else (), np.float32)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place a full copy of ``tree`` (params, model state, optimizer state) on every device.

    Done once before the first step, so that no step has to copy them onto the mesh. The result
    is always new memory, never the arrays of ``tree`` themselves (even where ``tree`` already
    lies on the mesh's devices): a training step donates what it is given, and that must not
    delete the caller's ``tree``.

    Examples:
      >>> import jax.numpy as jnp
      >>> params = {"w": jnp.ones(3)}
      >>> placed = replicate(params, data_mesh())
      >>> placed["w"].delete()  # as a donating step does
      >>> params["w"].is_deleted(), tuple(placed["w"].sharding.spec)
      (False, ())
    """
    check_mesh(mesh, "replicate")
    return jax.device_put(tree, replicated(mesh), may_alias=False)


def jit_data_parallel(
    fn: Callable[..., Any],
    mesh: Mesh,
    *,
    num_args: int,
    batch_argnum: int,
    split_argnums: tuple[int, ...] = (),
    split_outputs: bool = False,
    donate_argnums: tuple[int, ...] = (),
    keep_unused: bool = False,
    where: str,
) -> Callable[..., Any]:
    """``jax.jit(fn)`` with argument ``batch_argnum`` (and any ``split_argnums``) split over
    ``"data"``, the other arguments replicated, and the outputs replicated (split over
    ``"data"`` with ``split_outputs``).

    A batch the devices do not divide is a ValueError naming both numbers.
    """
    check_mesh(mesh, where)
    split, everywhere = batch_sharding(mesh), replicated(mesh)
    split_args = {batch_argnum, *split_argnums}
    in_shardings = tuple(split if i in split_args else everywhere for i in range(num_args))
    out_shardings = split if split_outputs else everywhere
    jitted = jax.jit(
        fn,
        in_shardings=in_shardings,
        out_shardings=out_shardings,
        donate_argnums=donate_argnums,
        keep_unused=keep_unused,
    )

    devices = data_devices(mesh)

    def call(*args: Any) -> Any:
        _check_batch_size(args[batch_argnum], devices, where)
        return jitted(*args)

    call.lower = jitted.lower  # type: ignore[attr-defined]  (for compile_step and HLO dumps)
    return call


__all__ = [
    "DATA_AXIS",
    "batch_sharding",
    "check_batch_divisible",
    "check_batch_size",
    "check_mesh",
    "data_devices",
    "data_mesh",
    "jit_data_parallel",
    "replicate",
    "replicated",
    "shard_batch",
]
