"""The paper's three experiments as lists of :class:`~featx.reproduce.runs.Run` stages.

* ``crc-tissue``: fine-tune FTX-2048 on NCT-CRC-HE-100K (two steps), embed CRC-VAL-HE-7K
  with FTX-2048 and IMGNET-2048, LinearSVC tissue classification, 50 x 5-fold, report;
* ``luad-expression``: TCGA-LUAD slides -> patient-mean embeddings, immune-gene
  expression targets, SVR, 50 x 5-fold, report;
* ``luad-mutation``: the same embeddings, mutation targets from the MAF, LASSO.

:func:`reproduce` prints the plan (:mod:`featx.reproduce.plan`) first, then runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from featx.data_folder import data_dir as default_data_dir
from featx.errors import DataNotFoundError
from featx.reproduce.plan import (
    EXPERIMENTS,
    SMALL_EVAL_PER_CLASS,
    SMALL_EVAL_TILES,
    Plan,
    evaluation_folds,
    plan_for,
)
from featx.reproduce.runs import SMALL_NEEDS, STAIN_TARGET, Run, find_file


def _xception_factories(ftx: Path, weights: Path) -> dict[str, Any]:
    from featx.extractors import ExtractorFactory

    return {"FTX-2048": ExtractorFactory.of("FTX-2048", model_path=str(ftx.resolve())),
            "IMGNET-2048": ExtractorFactory.of("IMGNET-2048", weights=str(weights.resolve()))}


def _crc_tissue(run: Run, ftx_model: Path | None) -> None:
    weights = run.weights()
    ftx = run.ftx(weights, ftx_model)
    if run.small:
        tiles, per_class = run.need_data(SMALL_EVAL_TILES), SMALL_EVAL_PER_CLASS
    else:
        tiles, per_class = run.tile_set("CRC-VAL-HE-7K.zip", "fetch-val"), None
    run.tissue(tiles, _xception_factories(ftx, weights), max_per_class=per_class,
               provenance={"ftx_model": str(ftx), "weights": str(weights)})


def _luad(run: Run, kind: str, *, ftx_model: Path | None, slides_manifest: Path | None,
          tile_mpp: float) -> None:
    slides, patients = run.slide_patients(slides_manifest)
    if run.small:
        run.standins(kind, patients)
        return
    targets = run.targets(kind, patients)
    features = _slide_features(run, slides, ftx_model, tile_mpp)
    run.evaluate(kind, features, targets, {
        "embeddings": "patient means of FTX-2048 and IMGNET-2048 tiles",
        "targets": str(run.out / "targets")})


def _slide_features(run: Run, slides: pd.DataFrame, ftx_model: Path | None,
                    tile_mpp: float) -> dict[str, pd.DataFrame]:
    """Slides (fetched unless at hand) -> Macenko -> both extractors -> patient means."""
    from featx._io import read_rgb
    from featx.embed import pool_embeddings
    from featx.stain import MacenkoNormalizer
    from featx.wsi import TileSpec

    weights = run.weights()
    ftx = run.ftx(weights, ftx_model)
    slide_dir = run.out / "data" / "slides"
    given = slides["path"].astype(str) if "path" in slides.columns else None
    if given is None or not all(Path(p).is_file() for p in given):  # else: slides at hand
        run.fetch(slides, None, slide_dir, "fetch-slides")
        slides = slides.assign(path=[str(p) for p in run.located(list(slides["filename"]))])
    target = find_file(Path(STAIN_TARGET).name, run.search)
    if target is None:
        raise DataNotFoundError("a Macenko target image", f"put {Path(STAIN_TARGET).name} "
                                "(or any H&E reference) in a --local-dir")
    normalizer = MacenkoNormalizer(mode="per_slide").fit(read_rgb(target))
    spec = TileSpec(tile_px=224, tile_mpp=tile_mpp, min_tissue=0.8)
    store = run.out / "store"
    features = {}
    for name, factory in _xception_factories(ftx, weights).items():
        run.extract(slides, store, name, factory, spec=spec, normalizer=normalizer,
                    slide_dir=slide_dir)
        pooled = pool_embeddings(store, extractor=name, progress=True)
        features[name] = pooled.set_index("patient_id").drop(columns=["n_slides", "n_tiles"])
    return features


def reproduce(experiment: str, out: str | Path, *, small: bool = False,
              local_dirs: Sequence[str | Path] = (), data_dir: str | Path | None = None,
              n_repeats: int | None = None, n_splits: int = 5, ftx_model: str | Path | None = None,
              tile_mpp: float = 0.25, workers: int = 0, n_jobs: int = 1,
              echo: Callable[[str], None] = print, dry_run: bool = False,
              slides_manifest: str | Path | None = None) -> Plan:
    """Run one of the paper's experiments from public data to a report, resumably.

    Parameters
    ----------
    experiment : {"crc-tissue", "luad-expression", "luad-mutation"}
    out : path
        Output folder (``data/``, ``targets/``, ``store/``, ``results/``, ``report/``);
        running again resumes.
    small : bool
        Run the same stages on the featx public data folder only (CI size; LUAD with
        labelled stand-in embeddings, since no TCGA slides are there).
    local_dirs : sequence of path
        Folders that may already hold inputs (checked like downloads).
    data_dir : path, optional
        The public data folder (default :func:`featx.data_folder.data_dir`).
    n_repeats : int, optional
        Repetitions of the K-fold (default 50, ``--small`` 3).
    n_splits : int
        Folds (5; ``--small`` crc-tissue uses 3 for its few tiles).
    ftx_model : path, optional
        A fine-tuned FTX-2048 (``featx finetune`` output); default: fine-tune here.
    tile_mpp : float
        Resolution of slide tiles (the paper: 0.25).
    slides_manifest : path, optional
        LUAD: a GDC or featx manifest of the slides (e.g. ``featx gdc diagnostic-slides``);
        default the bundled ``tcga_luad_slides`` (tissue slides); primary tumours are kept.
    workers : int
        Extraction worker processes (0: in this process).
    n_jobs : int
        Worker processes fitting folds.
    echo : callable
        Where progress lines go.
    dry_run : bool
        Print the plan and stop.

    Returns
    -------
    Plan
        What was (or would be) downloaded and computed.
    """
    from featx._validate import one_of
    from featx.wsi import TileSpec

    one_of("experiment", experiment, EXPERIMENTS)
    TileSpec(tile_px=224, tile_mpp=tile_mpp)  # the shared bounds, before the plan uses it
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if small and root is None:
        raise DataNotFoundError("the featx public data folder", SMALL_NEEDS)
    folders = [*local_dirs, *([root / "models"] if root is not None else [])]
    names = frozenset(p.name for folder in folders for pattern in ("*", "*/*")
                      for p in Path(folder).glob(pattern))  # a shallow look: zips, weights
    ftx = Path(ftx_model) if ftx_model else None
    manifest = Path(slides_manifest) if slides_manifest else None
    plan = plan_for(experiment, small=small, data_dir=root, tile_mpp=tile_mpp,
                    have_ftx=ftx is not None, local=names, n_repeats=n_repeats, n_splits=n_splits,
                    slides_manifest=manifest)
    for line in plan.lines():
        echo(line)
    if dry_run:
        return plan
    kind = experiment.split("-")[1]
    repeats, splits = evaluation_folds(experiment, small=small, n_repeats=n_repeats,
                                       n_splits=n_splits)
    run = Run(out, small=small, local_dirs=[Path(p) for p in local_dirs], data_dir=root,
              n_repeats=repeats, n_splits=splits, n_jobs=n_jobs, workers=workers, echo=echo)
    if kind == "tissue":
        _crc_tissue(run, ftx)
    else:
        _luad(run, kind, ftx_model=ftx, slides_manifest=manifest, tile_mpp=tile_mpp)
    title = f"featx reproduce {experiment}" + (" --small" if small else "")
    echo(f"report: {run.report(title)}")
    return plan
