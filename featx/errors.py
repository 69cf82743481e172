"""The exceptions featx raises.

Every exception derives from :class:`FeatxError`, carries the fields that caused
it, and says in its message what was expected and how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class FeatxError(Exception):
    """Base class of every error featx raises on purpose."""


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
            "(OpenSlide properties, TIFF resolution tags or Aperio description). "
            "Pass it explicitly: open_slide(path, mpp=0.25) in Python, or "
            "--mpp 0.25 on the command line, with the scanner's true value.",
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


class NotFittedError(FeatxError, ValueError, AttributeError):
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


class EmptyTissueError(FeatxError, ValueError):
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
            f"{name} has no usable tissue to fit Macenko stains: {n_tissue_px} pixels below "
            f"LAB luminosity {luminosity_threshold} (at least 2, not all one colour, are needed). "
            "Pass an H&E image or tiles with stained tissue, or raise luminosity_threshold "
            "for a very pale stain."
        )
