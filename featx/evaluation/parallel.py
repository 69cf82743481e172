"""Fold fits in worker processes, the feature matrices shared through memory-mapped files.

Threads suit work whose heavy parts release the GIL (libsvm, one big BLAS call), but
the Newton LinearSVC interleaves many small NumPy operations with its BLAS calls: two
threads fitting folds side by side gave 1.5x one thread on 2 cores, where two processes
gave 2x. Worker processes (joblib's loky, which neither forks a process that has loaded
TensorFlow nor re-runs the caller's script) each get one BLAS thread; the features go to
them as read-only memory maps of temporary ``.npy`` files, written once per call, rather
than being pickled with every task.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed


@contextmanager
def shared_arrays(arrays: Mapping[str, np.ndarray], *, enabled: bool = True,
                  ) -> Iterator[dict[str, np.ndarray]]:
    """Read-only memory-mapped copies of ``arrays``, valid inside the ``with`` block.

    Parameters
    ----------
    arrays : mapping of str to numpy.ndarray
        The matrices worker processes will read.
    enabled : bool, default True
        False yields ``arrays`` themselves (work stays in this process: nothing to share).

    Yields
    ------
    dict of str to numpy.ndarray
        ``numpy.memmap`` views of files in a temporary folder (``$TMPDIR``), removed on exit.
    """
    if not enabled:
        yield dict(arrays)
        return
    with tempfile.TemporaryDirectory(prefix="featx-shared-", ignore_cleanup_errors=True) as tmp:
        shared = {}
        for i, (name, array) in enumerate(arrays.items()):
            path = Path(tmp) / f"{i}.npy"
            try:
                np.save(path, array)
            except OSError as exc:
                raise OSError(
                    f"could not write the worker processes' copy of {name!r} "
                    f"({array.nbytes / 2**20:,.0f} MiB) to {tmp}: {exc.strerror or exc}. Free "
                    "space there, set TMPDIR to a folder with room, or use n_jobs=1.") from exc
            shared[name] = np.load(path, mmap_mode="r")
        yield shared


def ordered_map(function: Callable[..., object], tasks: Iterable[tuple], *,
                n_jobs: int) -> Iterator[object]:
    """``function(*task)`` for each task, results yielded in task order.

    ``n_jobs=1`` runs in this process; more starts that many worker processes (reused
    across calls), each limited to ``cores // n_jobs`` BLAS threads. ``function`` must be
    importable (a module-level function) and its arguments small or memory-mapped
    (:func:`shared_arrays`).
    """
    return Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(
        delayed(function)(*task) for task in tasks)


__all__ = ["ordered_map", "shared_arrays"]
