"""A run's stages, from public data (or the data folder) to a report.

Every stage writes its outputs under ``out`` and is recorded in
:class:`~featx.reproduce.stages.StageLog`, so a rerun of the same command resumes:

==============  =======================================================================
stage           what it does
==============  =======================================================================
fetch-*         verified, resumable downloads (or copies found with ``local_dirs``)
unpack-*        the NCT-CRC-HE zips, once
finetune        FTX-2048, the paper's two steps (resumes from its checkpoint)
embed-NAME      tiles (CRC) through an extractor, chunk by chunk
extract-NAME    slides (LUAD) through an extractor, slide by slide
targets-KIND    the expression or mutation table, with its provenance
evaluate-KIND   repeated K-fold on identical folds, paired tests (FTX-2048 first)
report          HTML + Markdown + CSV from the stored results
==============  =======================================================================

:class:`Run` holds these stages; :mod:`featx.reproduce.paper` lists them for each of the
paper's experiments and :mod:`featx.reproduce.demo` for the demo.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from featx._io import read_table, write_table
from featx._provenance import config_of
from featx.errors import DataError, DataNotFoundError
from featx.extractors.registry import ExtractorFactory
from featx.reproduce.plan import (
    FINETUNE,
    FINETUNE_SMALL,
    GENE_LISTS,
    SLIDE_MANIFEST,
    SMALL_TILES,
    primary_tumour_slides,
)
from featx.reproduce.stages import StageLog
from featx.reproduce.standins import DESCRIPTIONS, LABEL, standin_embeddings
from featx.wsi.tiling import TileSpec

EXPRESSION_MATRIX = "LUAD__geneExp.txt.gz"
MAF_FILE = "luad_maf.tsv.gz"
SMALL_WEIGHTS = "models/xception_imagenet_notop.weights.h5"
STAIN_TARGET = "stain_ref/tiatoolbox_target_image.png"
SMALL_NEEDS = ("--small runs on the featx public data folder: set FEATX_DATA_DIR or put it in "
               "../shared/data")


def _index(folders: Sequence[Path]) -> dict[str, Path]:
    """Every file under ``folders`` by name (the first folder that has a name wins), one walk each."""
    found: dict[str, Path] = {}
    for folder in folders:
        for parent, _, files in os.walk(folder):
            for name in files:
                found.setdefault(name, Path(parent) / name)
    return found


def find_file(name: str, folders: Sequence[Path]) -> Path | None:
    """The first file called ``name`` under ``folders``."""
    return _index(folders).get(name)


class Run:
    """One run's settings, folders and stages, each recorded in ``out/_stages.json``.

    Parameters
    ----------
    out : path
        Output folder; running again resumes.
    small : bool
        Inputs from the public data folder only.
    local_dirs : sequence of path
        Folders that may already hold inputs (checked like downloads).
    data_dir : path, optional
        The public data folder.
    n_repeats, n_splits : int
        Repeated K-fold of every evaluation.
    n_jobs : int
        Worker processes fitting folds.
    workers : int
        Extraction worker processes (0: in this process).
    echo : callable
        Where progress lines go.
    """

    def __init__(self, out: str | Path, *, small: bool = False, local_dirs: Sequence[Path] = (),
                 data_dir: Path | None = None, n_repeats: int = 50, n_splits: int = 5,
                 n_jobs: int = 1, workers: int = 0, echo: Callable[[str], None] = print) -> None:
        self.out, self.small = Path(out), small
        self.local_dirs = [Path(p) for p in local_dirs]
        self.data = data_dir
        self.n_repeats, self.n_splits, self.n_jobs, self.workers = n_repeats, n_splits, n_jobs, workers
        self.echo = echo
        self.log = StageLog(self.out, echo)
        self.search = [*self.local_dirs, *([data_dir] if data_dir else []), self.out / "data"]

    def need_data(self, relative: str) -> Path:
        """A path of the public data folder, or one line saying how to get it."""
        if self.data is None or not (self.data / relative).exists():
            raise DataNotFoundError(f"{relative} in the data folder", SMALL_NEEDS)
        return self.data / relative

    # ------------------------------------------------------------------ inputs

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
        """ImageNet Xception weights: the data folder's with ``small``, else fetched (verified)."""
        if self.small:
            return self.need_data(SMALL_WEIGHTS)
        from featx.downloads.manifests import bundled_manifest

        # The data folder's Keras 3 copy (no URL) if it is at hand, else Keras's own file;
        # either is verified against its checksum in the manifest.
        local = find_file("xception_imagenet_notop.weights.h5", self.search)
        name = local.name if local else "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
        self.fetch(bundled_manifest("xception_weights"), [name], self.out / "data", "fetch-weights")
        found = find_file(name, self.search)
        if found is None:
            raise DataNotFoundError(name, "featx fetch xception_weights, or --local-dir")
        return found

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
        archive = find_file(name, self.search)
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

    def located(self, names: Sequence[str]) -> list[Path]:
        """Where the fetched files are: downloaded under ``out/data``, or local copies."""
        where = _index([self.out / "data", *self.local_dirs])
        missing = [n for n in names if n not in where]
        if missing:
            raise DataNotFoundError(f"{len(missing)} fetched files (e.g. {missing[:2]})",
                                    "Run the command again to resume the downloads")
        return [where[n] for n in names]

    # ------------------------------------------------------------------ model stages

    def finetune(self, tiles: Path, weights: Path | str, options: dict[str, Any],
                 normalizer: Any = None) -> Path:
        """FTX-2048 fine-tuned in ``out/ftx`` (:class:`~featx.extractors.ftx.XceptionFineTuner`)."""
        from featx.extractors.ftx import XceptionFineTuner

        folder = self.out / "ftx"

        def work() -> str:
            tuner = XceptionFineTuner(out_dir=folder, base_weights=weights, seed=0, progress=True,
                                      normalizer=normalizer, **options).fit(tiles)
            accuracy = tuner.card_["validation_accuracy"]
            return f"FTX-2048 in {folder}, validation accuracy {accuracy}"
        self.log.run("finetune", {"tiles": str(tiles), "weights": str(weights),
                                  "normalizer": config_of(normalizer), **options}, work)
        return folder

    def ftx(self, weights: Path, given: Path | None) -> Path:
        """The given FTX-2048, else one fine-tuned the paper's way (``small``: on the data folder)."""
        if given is not None:
            return given
        if self.small:
            return self.finetune(self.need_data(SMALL_TILES), weights, FINETUNE_SMALL)
        return self.finetune(self.tile_set("NCT-CRC-HE-100K.zip", "fetch-nct"), weights, FINETUNE)

    def embed_tiles(self, tiles: Path, extractors: dict[str, ExtractorFactory], *,
                    max_per_class: int | None, normalizer: Any = None) -> Path:
        """A class-per-folder tile set through each extractor into ``out/tiles_store``."""
        from featx.embed.tile_sets import embed_tile_folder

        store = self.out / "tiles_store"
        for name, factory in extractors.items():
            def work(factory: Any = factory) -> str:
                done = embed_tile_folder(tiles, store, extractor=factory, normalizer=normalizer,
                                         max_per_class=max_per_class, progress=True)
                return (f"{done.n_tiles} tiles ({done.n_skipped} of {done.n_chunks} chunks done "
                        f"before) -> {done.store}")
            self.log.run(f"embed-{name}", {"tiles": str(tiles), "extractor": factory.key,
                                           "normalizer": config_of(normalizer),
                                           "max_per_class": max_per_class}, work)
        return store

    def extract(self, slides: pd.DataFrame, store: Path, name: str, factory: ExtractorFactory, *,
                spec: TileSpec, normalizer: Any, slide_dir: Path | None = None,
                batch_size: int = 64) -> None:
        """Every slide through one extractor into ``store`` (``run_batch`` skips done slides)."""
        from featx.embed import ClusterSettings, ExtractionSettings, run_batch

        def work() -> str:
            status = run_batch(slides, store, ExtractionSettings(
                factory, spec=spec, normalizer=normalizer, batch_size=batch_size),
                slide_dir=slide_dir, cluster=ClusterSettings(workers=self.workers, progress=True))
            return ", ".join(f"{n} {s}" for s, n in status["status"].value_counts().items())
        identity = int(pd.util.hash_pandas_object(slides.astype(str), index=False).sum() % 2**61)
        self.log.run(f"extract-{name}", {"slides": identity, "extractor": factory.key,
                                         "spec": spec, "normalizer": config_of(normalizer),
                                         "store": str(store)}, work)

    # ------------------------------------------------------------------ evaluation, report

    def tissue(self, tiles: Path, factories: dict[str, ExtractorFactory], *,
               max_per_class: int | None, normalizer: Any = None,
               provenance: dict[str, Any]) -> None:
        """Tissue classification of a tile set: embed with each extractor, then evaluate."""
        from featx.embed.store import provenance as stored
        from featx.evaluation.embedding_tables import read_embeddings
        from featx.evaluation.experiments import read_targets

        store = self.embed_tiles(tiles, factories, max_per_class=max_per_class,
                                 normalizer=normalizer)
        features = {name: read_embeddings(store / f"extractor={name}") for name in factories}
        labels = read_targets(store / "labels.tsv")[["label"]]
        # What made the embeddings (weights and their hashes, the stain fit), from the store.
        made = {name: stored(min((store / f"extractor={name}").glob("*.parquet")))
                for name in factories}
        self.evaluate("tissue", features, labels, {
            "tiles": str(tiles), "extractors": {n: p["extractor"] for n, p in made.items()},
            "stain": next(iter(made.values()))["stain_normalizer"], **provenance})

    def evaluate(self, kind: str, features: dict[str, pd.DataFrame], targets: pd.DataFrame,
                 provenance: dict[str, Any]) -> None:
        """Repeated K-fold of every extractor on identical folds, the first compared with the rest."""
        from featx.evaluation.experiments import run_evaluation

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
                # The verdict column (the default verdict rule), not the sign of the difference.
                better = int((done.comparison["verdict"] == names[0]).sum())
                line += (f"; {names[0]} significantly better than {names[1]} for {better} of "
                         f"{len(done.comparison)}")
                if len(done.comparison) == 1:
                    row = done.comparison.iloc[0]
                    line += (f" (mean {row['mean_a']:.3f} vs {row['mean_b']:.3f}, corrected "
                             f"p={row['p_corrected']:.2g})")
            return line
        # The features' identity: new embeddings (more slides, another model) evaluate again.
        identity = {name: [list(f.shape), int(pd.util.hash_pandas_object(f).sum() % 2**61)]
                    for name, f in features.items()}
        self.log.run(f"evaluate-{kind}", {"features": identity, "targets": list(targets.columns),
                                          "n": len(targets), **options}, work)

    def report(self, title: str, **sections: Any) -> Path:
        """The report of ``out/results`` (and any other ``build_report`` sections) in ``out/report``."""
        from featx.report import build_report, write_report

        folder = self.out / "report"

        def work() -> str:
            files = write_report(build_report(title, results=self.out / "results", **sections),
                                 folder)
            return f"report: {files.html}"
        # Any earlier stage that ran again makes a new report.
        before = {name: record["config"] for name, record in self.log.done.items()
                  if name != "report"}
        self.log.run("report", {"title": title, "stages": before}, work)
        return folder / "report.html"

    # ------------------------------------------------------------------ LUAD targets

    def slide_patients(self, manifest: Path | None) -> tuple[pd.DataFrame, set[str]]:
        """The primary-tumour slides of the manifest, and their patients."""
        from featx.downloads.manifests import bundled_manifest

        path = manifest or (self.data / SLIDE_MANIFEST if self.small and self.data
                            else bundled_manifest("tcga_luad_slides"))
        table, _ = primary_tumour_slides(path)
        if table.empty:
            raise DataError(f"slide manifest {path}", "no primary-tumour (01) TCGA slide",
                            "Pass a manifest of TCGA slides (featx gdc diagnostic-slides)")
        return table, set(table["patient"])

    def targets(self, kind: str, patients: set[str], *, max_targets: int | None = None
                ) -> pd.DataFrame:
        """The target table (stage ``targets-KIND``), of ``patients``, at most ``max_targets``."""
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
        joined = frame.loc[frame.index.isin(patients)].iloc[:, :max_targets]
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

        genes, record = read_gene_list(GENE_LISTS["expression"])
        matrix_path = find_file(EXPRESSION_MATRIX, self.search)
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

    def mutation_table(self) -> Any:
        from featx.targets import mutation_targets, read_gene_list, read_maf

        genes, record = read_gene_list(GENE_LISTS["mutation"])
        maf_path = find_file(MAF_FILE, self.search)
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

    def standins(self, kind: str, patients: set[str], *, max_targets: int | None = None) -> None:
        """Real targets of ``patients`` evaluated on the labelled stand-in embeddings."""
        targets = self.targets(kind, patients, max_targets=max_targets)
        features = standin_embeddings(self.need_data("."), list(targets.index))
        self.echo(f"  embeddings: {LABEL}")
        # The stand-ins' state is part of their identity: reports flag every card they are in.
        self.evaluate(kind, features, targets, {
            "embeddings": LABEL, "targets": str(self.out / "targets"),
            "extractors": {name: {"name": name, "stand-in": DESCRIPTIONS[name]}
                           for name in features}})
