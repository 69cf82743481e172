"""The three experiments, stage by stage, from public data (or the data folder) to a report.

Every stage writes its outputs under ``out`` and is recorded in
:class:`~featx.reproduce.stages.StageLog`, so a rerun of the same command resumes:

============  =========================================================================
stage         what it does
============  =========================================================================
fetch         verified, resumable downloads (or copies found with ``local_dirs``)
unpack        the NCT-CRC-HE zips, once
finetune      FTX-2048, the paper's two steps (resumes from its checkpoint)
embed         tiles (CRC) or slides (LUAD) through FTX-2048 and IMGNET-2048
targets       the expression or mutation table, with its provenance
evaluate      repeated K-fold on identical folds, paired tests (FTX-2048 first)
report        HTML + Markdown + CSV from the stored results
============  =========================================================================

(Over 450 lines because it holds the three experiments' stage lists side by side,
so what they share and where they differ reads at a glance.)
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from featx._io import read_table, write_table
from featx.data_folder import data_dir as default_data_dir
from featx.errors import DataError, DataNotFoundError
from featx.reproduce.plan import EXPERIMENTS, Plan, plan_for
from featx.reproduce.stages import StageLog
from featx.reproduce.standins import LABEL, standin_embeddings

EXPRESSION_MATRIX = "LUAD__geneExp.txt.gz"
MAF_FILE = "luad_maf.tsv.gz"
SMALL_TILES = "tiles/kather2016_samples"        # fine-tuning in --small
SMALL_EVAL_TILES = "tiles/lc25000_lung_224px"   # tissue classification in --small
SMALL_EVAL_PER_CLASS = 20
SMALL_WEIGHTS = "models/xception_imagenet_notop.weights.h5"
STAIN_TARGET = "stain_ref/tiatoolbox_target_image.png"
SLIDE_MANIFEST = "tables/deeppath_luad/LUAD_slides_from_manifest_DERIVED.tsv"
#: Mutation genes: Coudray et al. 2018's ten most often mutated LUAD genes (built-in set).
MUTATION_GENES = "luad_coudray2018"


def _index(folders: Sequence[Path]) -> dict[str, Path]:
    """Every file under ``folders`` by name (the first folder that has a name wins), one walk each."""
    import os

    found: dict[str, Path] = {}
    for folder in folders:
        for parent, _, files in os.walk(folder):
            for name in files:
                found.setdefault(name, Path(parent) / name)
    return found


def _find(name: str, folders: Sequence[Path]) -> Path | None:
    return _index(folders).get(name)


class _Run:
    """One reproduction's settings and folders (internal)."""

    def __init__(self, experiment: str, out: Path, *, small: bool, local_dirs: Sequence[Path],
                 data_dir: Path | None, n_repeats: int, n_splits: int, ftx_model: Path | None,
                 tile_mpp: float, workers: int, n_jobs: int, echo: Callable[[str], None],
                 slides_manifest: Path | None = None) -> None:
        self.experiment, self.out, self.small = experiment, out, small
        self.local_dirs = [Path(p) for p in local_dirs]
        self.data = data_dir
        self.n_repeats, self.n_splits, self.ftx_model = n_repeats, n_splits, ftx_model
        self.tile_mpp, self.workers, self.n_jobs, self.echo = tile_mpp, workers, n_jobs, echo
        self.slides_manifest = slides_manifest
        self.log = StageLog(out, echo)
        self.search = [*self.local_dirs, *([data_dir] if data_dir else []), out / "data"]

    def need_data(self, relative: str) -> Path:
        if self.data is None or not (self.data / relative).exists():
            raise DataNotFoundError(f"{relative} in the data folder", "--small runs on the featx "
                                    "public data folder: set FEATX_DATA_DIR or put it in "
                                    "../shared/data")
        return self.data / relative

    # ------------------------------------------------------------------ shared stages

    def fetch(self, manifest: Any, names: Sequence[str] | None, dest: Path, stage: str) -> None:
        from featx.downloads.fetch import fetch

        def work() -> str:
            table = fetch(manifest, dest, names=names, local_dirs=self.search, progress=True)
            return f"{len(table)} files: " + ", ".join(
                f"{n} {s}" for s, n in table["status"].value_counts().items())
        self.log.run(stage, {"manifest": str(manifest) if not isinstance(manifest, pd.DataFrame)
                             else len(manifest), "names": list(names or []),
                             "dest": str(dest)}, work)

    def weights(self) -> Path:
        if self.small:
            return self.need_data(SMALL_WEIGHTS)
        from featx.downloads.manifests import bundled_manifest

        # The data folder's Keras 3 copy (no URL) if it is at hand, else Keras's own file;
        # either is verified against its checksum in the manifest.
        local = _find("xception_imagenet_notop.weights.h5", self.search)
        name = local.name if local else "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
        self.fetch(bundled_manifest("xception_weights"), [name], self.out / "data", "fetch-weights")
        found = _find(name, self.search)
        if found is None:
            raise DataNotFoundError(name, "featx fetch xception_weights, or --local-dir")
        return found

    def finetune(self, tiles: Path, weights: Path) -> Path:
        from featx.extractors.ftx import XceptionFineTuner

        folder = self.out / "ftx"
        options: dict[str, Any] = (
            {"input_px": 224, "epochs_step1": 1, "epochs_step2": 1, "batch_size": 8,
             "steps_per_epoch": 1, "val_fraction": 0.34} if self.small else
            {"input_px": 224, "epochs_step1": 10, "epochs_step2": 10, "batch_size": 128})

        def work() -> str:
            tuner = XceptionFineTuner(out_dir=folder, base_weights=weights, seed=0, progress=True,
                                      **options).fit(tiles)
            accuracy = tuner.card_["validation_accuracy"]
            return f"FTX-2048 in {folder}, validation accuracy {accuracy}"
        self.log.run("finetune", {"tiles": str(tiles), **options}, work)
        return folder

    def ftx(self, weights: Path) -> Path:
        if self.ftx_model is not None:
            return self.ftx_model
        if self.small:
            return self.finetune(self.need_data(SMALL_TILES), weights)
        return self.finetune(self.tile_set("NCT-CRC-HE-100K.zip", "fetch-nct"), weights)

    def tile_set(self, name: str, stage: str) -> Path:
        """An NCT-CRC-HE tile folder: already unpacked in a --local-dir, else fetched and unpacked."""
        from featx.downloads.manifests import bundled_manifest

        stem = name.removesuffix(".zip")
        for folder in self.local_dirs:
            for candidate in (folder / stem, folder):
                if candidate.name == stem and candidate.is_dir():
                    return candidate
        self.fetch(bundled_manifest("nct_crc_he"), [name], self.out / "data", stage)
        return self.unpack(name)

    def unpack(self, name: str) -> Path:
        archive = _find(name, self.search)
        if archive is None:
            raise DataNotFoundError(name, "featx fetch nct_crc_he, or --local-dir")
        target = self.out / "data" / "unpacked"

        def work() -> str:
            with zipfile.ZipFile(archive) as handle:
                handle.extractall(target)
            return f"{archive.name} -> {target}"
        self.log.run(f"unpack-{name}", {"archive": str(archive)}, work)
        folder = target / name.removesuffix(".zip")
        if not folder.is_dir():  # the zip's top folder is named otherwise
            raise DataNotFoundError(f"{folder} after unpacking {archive.name}", "The archive "
                                    "should hold one folder of class sub-folders named like it; "
                                    "unpack it yourself and pass the class folder's parent as "
                                    "--local-dir")
        return folder

    def evaluate(self, features: dict[str, pd.DataFrame], targets: pd.DataFrame,
                 provenance: dict[str, Any]) -> None:
        from featx.evaluation.experiments import run_evaluation

        kind = self.experiment.split("-")[1]
        kind = {"tissue": "tissue", "expression": "expression", "mutation": "mutation"}[kind]
        options: dict[str, Any] = {"n_splits": self.n_splits, "n_repeats": self.n_repeats,
                                   "seed": 0, "n_jobs": self.n_jobs, "progress": True}
        if kind == "expression":
            options["transform"] = "none"  # the target table is already log2(x + 1)

        def work() -> str:
            done = run_evaluation(kind, features, targets, self.out / "results",
                                  provenance=provenance, **options)
            names = list(features)
            line = f"{len(done.result.ids)} rows, {targets.shape[1]} targets"
            if done.comparison is not None:
                # The calibrated verdict (BH q < 0.05), not the sign of the difference.
                better = int((done.comparison["verdict"] == names[0]).sum())
                line += (f"; {names[0]} significantly better than {names[1]} for {better} of "
                         f"{len(done.comparison)}")
            return line
        # The features' identity: new embeddings (more slides, another model) evaluate again.
        identity = {name: [list(f.shape), int(pd.util.hash_pandas_object(f).sum() % 2**61)]
                    for name, f in features.items()}
        self.log.run("evaluate", {"features": identity, "targets": list(targets.columns),
                                  "n": len(targets), **options}, work)

    def report(self) -> Path:
        from featx.report import build_report, write_report

        folder = self.out / "report"

        def work() -> str:
            title = f"featx reproduce {self.experiment}" + (" --small" if self.small else "")
            files = write_report(build_report(title, results=self.out / "results"), folder)
            return f"report: {files.html}"
        self.log.run("report", {"results": str(self.out / "results"),
                                "evaluation": self.log.done.get("evaluate")}, work)
        return folder / "report.html"

    # ------------------------------------------------------------------ crc-tissue

    def embed_tiles(self, tiles: Path, extractors: dict[str, Any], *,
                    max_per_class: int | None) -> Path:
        from featx.embed.tile_sets import embed_tile_folder

        store = self.out / "tiles_store"
        for name, factory in extractors.items():
            # Not cached as a stage: embed_tile_folder skips the chunks already embedded.
            run = embed_tile_folder(tiles, store, extractor=factory, max_per_class=max_per_class,
                                    progress=True)
            self.echo(f"[embed-{name}] {run.n_tiles} tiles ({run.n_skipped} of {run.n_chunks} "
                      f"chunks done before) -> {run.store}")
        return store

    def crc_tissue(self) -> None:
        from featx.evaluation.embedding_tables import read_embeddings
        from featx.evaluation.experiments import read_targets
        from featx.extractors import ExtractorFactory

        weights = self.weights()
        ftx = self.ftx(weights)
        if self.small:
            tiles, per_class = self.need_data(SMALL_EVAL_TILES), SMALL_EVAL_PER_CLASS
        else:
            tiles, per_class = self.tile_set("CRC-VAL-HE-7K.zip", "fetch-val"), None
        factories = {"FTX-2048": ExtractorFactory.of("FTX-2048", model_path=str(ftx.resolve())),
                     "IMGNET-2048": ExtractorFactory.of("IMGNET-2048",
                                                        weights=str(weights.resolve()))}
        store = self.embed_tiles(tiles, factories, max_per_class=per_class)
        features = {name: read_embeddings(store / f"extractor={name}") for name in factories}
        labels = read_targets(store / "labels.tsv")[["label"]]
        self.evaluate(features, labels, {"tiles": str(tiles), "ftx_model": str(ftx),
                                         "weights": str(weights)})

    # ------------------------------------------------------------------ LUAD

    def slide_patients(self) -> tuple[pd.DataFrame, set[str]]:
        """The primary-tumour slides of the manifest, and their patients."""
        from featx.barcodes import tcga_patient, tcga_sample_type
        from featx.downloads.manifests import bundled_manifest, read_manifest

        path = self.slides_manifest or (self.data / SLIDE_MANIFEST if self.small and self.data
                                        else bundled_manifest("tcga_luad_slides"))
        table = read_manifest(path)
        # Slide file names are TCGA slide barcodes: sample type and patient come from them.
        table["patient"] = [tcga_patient(n) or "" for n in table["filename"]]
        table = table[[tcga_sample_type(n) == "01" for n in table["filename"]]]
        if table.empty:
            raise DataError(f"slide manifest {path}", "no primary-tumour (01) TCGA slide",
                            "Pass a manifest of TCGA slides (featx gdc diagnostic-slides)")
        return table.reset_index(drop=True), set(table["patient"])

    def targets(self, patients: set[str]) -> pd.DataFrame:
        kind = self.experiment.split("-")[1]
        path = self.out / "targets" / f"{kind}.tsv"

        def work() -> str:
            table = self.expression_table() if kind == "expression" else self.mutation_table()
            table.save(path)
            for note in table.notes:
                self.echo(f"  note: {note}")
            return f"{table.frame.shape[0]} patients x {table.frame.shape[1]} genes -> {path}"
        self.log.run(f"targets-{kind}", {"small": self.small,
                                         "local": [str(p) for p in self.local_dirs]}, work)
        frame = read_table(path, what="target table").set_index("patient")
        joined = frame.loc[frame.index.isin(patients)]
        self.echo(f"  {len(joined)} of {len(frame)} target patients have a primary-tumour slide "
                  "in the slide manifest")
        if joined.empty:
            raise DataError("targets", "no patient has a slide in the manifest",
                            "Check that the targets and slides are of one project")
        if kind == "mutation":  # a gene needs both classes in every fold
            counts = joined.sum()
            rare = counts[(counts < self.n_splits) | (len(joined) - counts < self.n_splits)]
            if len(rare):
                self.echo(f"  left out {list(rare.index)}: fewer than {self.n_splits} carriers")
                joined = joined.drop(columns=rare.index)
        return joined

    def expression_table(self) -> Any:
        from featx.targets import expression_targets, read_gene_list, read_rsem_matrix

        genes, record = read_gene_list("immune")
        matrix_path = _find(EXPRESSION_MATRIX, self.search)
        if matrix_path is not None:
            return expression_targets(read_rsem_matrix(matrix_path), genes=genes,
                                      sources=[matrix_path], provenance=record)
        if self.small:
            raise DataNotFoundError(EXPRESSION_MATRIX, "it is in the featx data folder")
        return expression_targets(self.gdc_star_matrix(), genes=genes, provenance=record)

    def gdc_star_matrix(self) -> pd.DataFrame:
        from featx.downloads.gdc import project_manifest
        from featx.targets.expression import read_sample_sheet, read_star_counts

        manifest = self.out / "data" / "rnaseq_manifest.tsv"
        if not manifest.is_file():
            write_table(project_manifest("TCGA-LUAD", "rnaseq", dest="rnaseq"), manifest)
        self.fetch(manifest, None, self.out / "data", "fetch-rnaseq")
        files = self.located(read_table(manifest, dtype=str)["filename"])
        return read_star_counts(files, column="tpm", samples=read_sample_sheet(manifest))

    def located(self, names: Sequence[str]) -> list[Path]:
        """Where the fetched files are: downloaded under ``out/data``, or local copies."""
        where = _index([self.out / "data", *self.local_dirs])
        missing = [n for n in names if n not in where]
        if missing:
            raise DataNotFoundError(f"{len(missing)} fetched files (e.g. {missing[:2]})",
                                    "Run the command again to resume the downloads")
        return [where[n] for n in names]

    def mutation_table(self) -> Any:
        from featx.targets import mutation_targets, read_gene_list, read_maf

        genes, record = read_gene_list(MUTATION_GENES)
        maf_path = _find(MAF_FILE, self.search)
        if maf_path is not None:
            maf, sources = read_maf(maf_path), [maf_path]
        elif self.small:
            raise DataNotFoundError(MAF_FILE, "it is in the featx data folder")
        else:
            from featx.downloads.gdc import project_manifest

            manifest = self.out / "data" / "maf_manifest.tsv"
            if not manifest.is_file():
                write_table(project_manifest("TCGA-LUAD", "maf", dest="maf"), manifest)
            self.fetch(manifest, None, self.out / "data", "fetch-maf")
            sources = self.located(read_table(manifest, dtype=str)["filename"])
            maf = pd.concat([read_maf(p) for p in sources], ignore_index=True)
        return mutation_targets(maf, genes=genes, sources=sources, provenance=record)

    def slide_features(self, slides: pd.DataFrame) -> dict[str, pd.DataFrame]:
        from featx._io import read_rgb
        from featx.embed import ClusterSettings, ExtractionSettings, pool_embeddings, run_batch
        from featx.extractors import ExtractorFactory
        from featx.stain import MacenkoNormalizer
        from featx.wsi import TileSpec

        weights = self.weights()
        ftx = self.ftx(weights)
        slide_dir = self.out / "data" / "slides"
        given = slides["path"].astype(str) if "path" in slides.columns else None
        if given is None or not all(Path(p).is_file() for p in given):  # else: slides at hand
            self.fetch(slides, None, slide_dir, "fetch-slides")
            slides = slides.assign(path=[str(p) for p in self.located(list(slides["filename"]))])
        target = _find(Path(STAIN_TARGET).name, self.search)
        if target is None:
            raise DataNotFoundError("a Macenko target image", f"put {Path(STAIN_TARGET).name} "
                                    "(or any H&E reference) in a --local-dir")
        normalizer = MacenkoNormalizer(mode="per_slide").fit(read_rgb(target))
        spec = TileSpec(tile_px=224, tile_mpp=self.tile_mpp, min_tissue=0.8)
        store = self.out / "store"
        factories = {"FTX-2048": ExtractorFactory.of("FTX-2048", model_path=str(ftx.resolve())),
                     "IMGNET-2048": ExtractorFactory.of("IMGNET-2048",
                                                        weights=str(weights.resolve()))}
        features = {}
        for name, factory in factories.items():
            # Not cached as a stage: run_batch itself skips every slide already in the store
            # with the same extractor, tiling, stain fit and slide fingerprint.
            status = run_batch(slides, store,
                               ExtractionSettings(factory, spec=spec, normalizer=normalizer),
                               slide_dir=slide_dir,
                               cluster=ClusterSettings(workers=self.workers, progress=True))
            self.echo(f"[extract-{name}] " + ", ".join(
                f"{n} {s}" for s, n in status["status"].value_counts().items()))
            pooled = pool_embeddings(store, extractor=name, progress=True)
            features[name] = pooled.set_index("patient_id").drop(columns=["n_slides", "n_tiles"])
        return features

    def luad(self) -> None:
        slides, patients = self.slide_patients()
        targets = self.targets(patients)
        if self.small:
            features = standin_embeddings(self.need_data("."), list(targets.index))
            provenance: dict[str, Any] = {"embeddings": LABEL}
            self.echo(f"  embeddings: {LABEL}")
        else:
            features = self.slide_features(slides)
            provenance = {"embeddings": "patient means of FTX-2048 and IMGNET-2048 tiles"}
        self.evaluate(features, targets, {**provenance, "targets": str(self.out / "targets")})


def _slide_count(manifest: str | Path | None) -> tuple[int, int] | None:
    """Primary-tumour slides of a manifest and their bytes (None: the bundled manifest)."""
    if manifest is None:
        return None
    from featx.barcodes import tcga_sample_type
    from featx.downloads.manifests import read_manifest

    table = read_manifest(manifest)
    table = table[[tcga_sample_type(n) == "01" for n in table["filename"]]]
    return len(table), int(table["size"].fillna(0).sum())


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

    one_of("experiment", experiment, EXPERIMENTS)
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    out = Path(out)
    folders = [*local_dirs, *([root / "models"] if root is not None else [])]
    names = frozenset(p.name for folder in folders for pattern in ("*", "*/*")
                      for p in Path(folder).glob(pattern))  # a shallow look: zips, weights
    n_small = 3 * SMALL_EVAL_PER_CLASS if experiment == "crc-tissue" else 0
    plan = plan_for(experiment, small=small, tile_mpp=tile_mpp, have_ftx=ftx_model is not None,
                    local=names, n_small=n_small, slides=_slide_count(slides_manifest))
    for line in plan.lines():
        echo(line)
    if dry_run:
        return plan
    splits = 3 if small and experiment == "crc-tissue" else n_splits
    run = _Run(experiment, out, small=small, local_dirs=[Path(p) for p in local_dirs],
               data_dir=root, n_repeats=n_repeats or (3 if small else 50), n_splits=splits,
               ftx_model=Path(ftx_model) if ftx_model else None, tile_mpp=tile_mpp,
               workers=workers, n_jobs=n_jobs, echo=echo,
               slides_manifest=Path(slides_manifest) if slides_manifest else None)
    if experiment == "crc-tissue":
        run.crc_tissue()
    else:
        run.luad()
    echo(f"report: {run.report()}")
    return plan
