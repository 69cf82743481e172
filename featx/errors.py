"""Every exception featx raises on purpose: one tree, each with the fields that caused it.

``except FeatxError`` catches them all, and the command line prints any of them as
one line. Each message says what was expected and how to fix it::

    FeatxError
    ├── InvalidParameterError (ValueError)    an argument of the wrong type or value
    ├── DataError (ValueError)                tables that cannot be used together
    │   └── EmptyTissueError                  too little tissue to fit stains
    ├── DataNotFoundError (FileNotFoundError) a file or folder featx needs is missing
    ├── SlideError (OSError)                  a slide cannot be opened or read
    │   └── MissingMppError                   ... because it records no resolution
    ├── StoreError                            a store file featx did not write, or a mixed store
    ├── ExtractionError                       an extractor returned unusable features
    ├── LockTimeoutError (TimeoutError)       a slide stayed locked by a live worker
    ├── MemoryBudgetError                     an input would need more memory than is free
    ├── DiskSpaceError (OSError)              what is declared would not fit on the disk
    ├── DownloadError                         a download failed after its retries
    │   └── ChecksumError                     ... or did not match its size or checksum
    ├── FetchError                            some files of a manifest could not be fetched
    ├── ResumeMismatchError                   a run folder belongs to other data or settings
    ├── MissingExtraError (ImportError)       an optional package is not installed
    └── NotFittedError (sklearn's NotFittedError)  an estimator used before ``fit``

:class:`NotFittedError` also derives from scikit-learn's, so code that catches
``sklearn.exceptions.NotFittedError`` catches featx's too. scikit-learn is imported
only when that class is first used, so ``import featx`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class FeatxError(Exception):
    """Base class of every error featx raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Dask, joblib workers): rebuild them from their
        # fields, since their __init__ takes the fields, not the message.
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type, args: tuple[Any, ...], fields: dict[str, Any]) -> FeatxError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(fields)
    return error


class InvalidParameterError(FeatxError, ValueError):
    """An argument has the wrong type or value.

    Parameters
    ----------
    name : str
        The argument's name.
    expected : str
        What the argument should have been.
    got : object
        What came in.
    """

    def __init__(self, name: str, expected: str, got: object) -> None:
        self.name, self.expected, self.got = name, expected, got
        super().__init__(f"{name} must be {expected}, got {got!r}")


class DataError(FeatxError, ValueError):
    """Tables that cannot be used together as they are (IDs, targets, classes).

    Parameters
    ----------
    what : str
        The table or column at fault.
    problem : str
        What is wrong with it, with examples.
    fix : str
        How to make it usable.
    """

    def __init__(self, what: str, problem: str, fix: str) -> None:
        self.what, self.problem, self.fix = what, problem, fix
        super().__init__(f"{what}: {problem}. {fix}")


class EmptyTissueError(DataError):
    """An image meant to fit stains has too little tissue to estimate them.

    Parameters
    ----------
    name : str
        The argument that held the image.
    n_tissue_px : int
        Pixels found darker than the luminosity threshold.
    luminosity_threshold : float
        The threshold used.
    """

    def __init__(self, name: str, n_tissue_px: int, luminosity_threshold: float) -> None:
        self.name, self.n_tissue_px = name, n_tissue_px
        self.luminosity_threshold = luminosity_threshold
        super().__init__(
            name,
            f"no usable tissue to fit Macenko stains: {n_tissue_px} pixels below LAB "
            f"luminosity {luminosity_threshold} (at least 2, not all one colour, are needed)",
            "Pass an H&E image or tiles with stained tissue, or raise luminosity_threshold "
            "for a very pale stain.",
        )


class DataNotFoundError(FeatxError, FileNotFoundError):
    """A data file or folder featx needs is missing.

    Parameters
    ----------
    what : str
        What was looked for.
    hint : str
        How to provide it.
    """

    def __init__(self, what: str, hint: str) -> None:
        self.what, self.hint = what, hint
        super().__init__(f"{what} not found. {hint}")


class SlideError(FeatxError, OSError):
    """A slide file cannot be opened or read.

    Parameters
    ----------
    path : Path
        The slide file.
    reason : str
        What went wrong and what to do about it.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{self.path}: {reason}")


class MissingMppError(SlideError):
    """A slide records no microns per pixel and the caller gave none."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(
            path,
            "the slide records no microns per pixel (mpp) in its metadata "
            "(OpenSlide properties, Aperio description, OME PhysicalSizeX, DICOM "
            "PixelSpacing or TIFF resolution tags). Pass it explicitly: "
            "open_slide(path, slide_mpp=0.25) in Python, --slide-mpp 0.25 on the command line or "
            "a `slide_mpp` column in the manifest, with the scanner's true value.",
        )


class StoreError(FeatxError):
    """A store file featx did not write, or extractors that cannot be read as one table.

    Parameters
    ----------
    path : Path
        The store file or folder.
    problem : str
        What is wrong, and how to proceed.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{self.path}: {problem}")


class ExtractionError(FeatxError):
    """An extractor returned features of the wrong shape or non-finite values.

    Parameters
    ----------
    extractor : str
        The extractor's name.
    slide_id : str
        The slide being embedded.
    got : str
        Shape and dtype (or the non-finite count) that came back.
    expected : str
        What should have come back.
    """

    def __init__(self, extractor: str, slide_id: str, got: str, expected: str) -> None:
        self.extractor, self.slide_id, self.got, self.expected = extractor, slide_id, got, expected
        super().__init__(f"{extractor} returned {got} for tiles of {slide_id}; expected "
                         f"{expected}. Check the model and its input scaling.")


class LockTimeoutError(FeatxError, TimeoutError):
    """A slide stayed locked by another live worker for longer than the wait allowed.

    Parameters
    ----------
    path : Path
        The lock file.
    owner : str
        Who holds it (host, pid, since when), as the lock file says.
    waited_s : float
        How long this worker waited.
    """

    def __init__(self, path: str | Path, owner: str, waited_s: float) -> None:
        self.path, self.owner, self.waited_s = Path(path), owner, waited_s
        super().__init__(f"{self.path} is held by a live worker ({owner}) for more than "
                         f"{waited_s:.0f} s; if no run is active, delete it")


class MemoryBudgetError(FeatxError):
    """An allocation that an input asks for would not fit in the memory free now.

    Raised before allocating, from an estimate, so a bad size fails in one line instead
    of swapping the machine or being killed.

    Parameters
    ----------
    what : str
        What would be allocated (``"a batch of 64 tiles of 100000 px"``).
    needed_bytes : int
        The estimate.
    available_bytes : int
        The budget it was checked against.
    fix : str
        Which value to lower.
    """

    def __init__(self, what: str, needed_bytes: int, available_bytes: int, fix: str) -> None:
        self.what, self.fix = what, fix
        self.needed_bytes, self.available_bytes = int(needed_bytes), int(available_bytes)
        super().__init__(f"{what} needs {_gib(needed_bytes)} of memory, more than the "
                         f"{_gib(available_bytes)} free; {fix}")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.3g} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.3g} MiB"


class DiskSpaceError(FeatxError, OSError):
    """What is about to be written, by its declared size, does not fit in the free disk space.

    Parameters
    ----------
    folder : Path
        Where it would be written.
    needed_bytes : int
        The declared sizes still to write.
    free_bytes : int
        Free space in ``folder`` now.
    fix : str
        What to do about it.
    """

    def __init__(self, folder: str | Path, needed_bytes: int, free_bytes: int, fix: str) -> None:
        self.folder, self.fix = Path(folder), fix
        self.needed_bytes, self.free_bytes = int(needed_bytes), int(free_bytes)
        super().__init__(f"{self.folder}: {_gib(needed_bytes)} to download, but only "
                         f"{_gib(free_bytes)} free there; {fix}")


class DownloadError(FeatxError):
    """A file could not be downloaded (after the retries allowed).

    Parameters
    ----------
    url : str
        What was being downloaded.
    reason : str
        What went wrong, and how to resume.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


class ChecksumError(DownloadError):
    """A downloaded or local file does not match its manifest's size or checksum."""


class FetchError(FeatxError):
    """Some files of a manifest could not be fetched.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per file (``filename``, ``path``, ``status``, ``error``): which failed and why.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        failed = table[table["status"] == "failed"]
        lines = "; ".join(f"{r.filename}: {r.error}" for r in failed.itertuples())
        super().__init__(f"{len(failed)} of {len(table)} files failed: {lines}")


class ResumeMismatchError(FeatxError):
    """A folder holds an interrupted run made with other data or settings.

    Parameters
    ----------
    folder : Path
        The run's folder.
    differs : str
        What differs between the stored run and this one.
    """

    def __init__(self, folder: str | Path, differs: str) -> None:
        self.folder, self.differs = Path(folder), differs
        super().__init__(f"{self.folder} holds a run with other {differs}. Use another "
                         "folder, or delete that one to start over.")


class MissingExtraError(FeatxError, ImportError):
    """An optional package that a feature needs is not installed.

    Parameters
    ----------
    package : str
        The missing import (``h5py``, ``onnxruntime``).
    extra : str
        The featx extra that installs it (``import``, ``onnx``).
    purpose : str
        What it is needed for.
    """

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package, self.extra, self.purpose = package, extra, purpose
        super().__init__(f"{package} is needed {purpose} but is not installed: "
                         f"pip install 'featx[{extra}]'")


def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(FeatxError, SklearnNotFittedError):
        """An estimator was used before it was fitted.

        Parameters
        ----------
        estimator : str
            The estimator's name.
        hint : str
            What to call first.
        """

        def __init__(self, estimator: str, hint: str) -> None:
            self.estimator, self.hint = estimator, hint
            super().__init__(f"{estimator} is not fitted yet: {hint}")

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"
    return NotFittedError


def __getattr__(name: str) -> Any:
    # NotFittedError needs scikit-learn, which costs ~2 s to import: build it on first use.
    if name == "NotFittedError":
        cls = _not_fitted_error()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ChecksumError", "DataError", "DataNotFoundError", "DiskSpaceError", "DownloadError",
           "EmptyTissueError", "ExtractionError", "FeatxError", "FetchError",
           "InvalidParameterError", "LockTimeoutError", "MemoryBudgetError", "MissingExtraError",
           "MissingMppError", "NotFittedError",  # noqa: F822
           "ResumeMismatchError", "SlideError", "StoreError"]
