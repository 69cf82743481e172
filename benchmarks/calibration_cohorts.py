"""Simulated cohorts for ``bench_calibration.py``: every cell and scenario, with a known answer.

A *cell* is an experiment at a size a user meets; a *scenario* says how the two
extractors A and B see the targets:

* ``null-noise``: both are pure noise (nothing to predict: scores near chance);
* ``null-signal``: both are the same signal plus independent noise of the same size;
* ``null-real``: real targets, and both extractors the same real-derived features
  plus independent noise of the same size;
* ``power-small`` / ``power-large``: like ``null-signal``, but B's noise is
  :data:`POWER_NOISE` times A's: A is truly better.

Cells:

* ``expression-150`` / ``expression-500``: 150 or 500 TCGA-LUAD primary tumours drawn
  from the real RNA-seq matrix, 100 immune genes drawn from featx's ``immune`` list as
  targets (log2(RSEM + 1), so their correlation is the real one). The signal is the
  first three principal components of those targets; the real-derived features are
  10 other high-variance genes. The 20-gene cells are the first 20 of the 100 genes:
  SVR fits every gene on its own, on the same folds, so their scores are what a
  20-gene run gives (``tests/evaluation/test_comparisons.py`` checks it).
* ``mutation-80`` / ``-200`` / ``-500``: three genes mutated in 5%, 15% and 40% of the
  patients (at least 5, the fewest 5-fold CV allows), thresholded from a latent
  liability; the real scenario uses three of the nine LUAD genes other than TP53
  (mutated in 10-35%) and 10 high-variance expressed genes as features.
* ``tissue``: 60 patients with 5 tiles each, three classes from a latent tile state
  with a patient effect, folds grouped by patient; the real scenario uses 300 of the
  600 LC25000 lung tiles with colour-statistics features and 60 pseudo-patients.

Features have 10 dimensions (30 for colour statistics): small, so that thousands of
cohorts run on two cores; the experiments' cost is in the per-target fits, not in the
feature width.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from featx.data_folder import data_file

NULLS = ("null-noise", "null-signal", "null-real")
POWERS = ("power-small", "power-large")
SCENARIOS = NULLS + POWERS
#: B's noise as a multiple of A's in the power scenarios.
POWER_NOISE = {"power-small": 1.4, "power-large": 2.0}
#: Cells whose fits we run; the 20-gene expression cells are read from the 100-gene ones.
FITTED_CELLS = ("tissue", "expression-150", "expression-500", "mutation-80", "mutation-200",
                "mutation-500")
#: Every cell of the table: (fitted cell, how many of its targets).
CELLS = {"tissue": ("tissue", None),
         "expression-150x20": ("expression-150", 20), "expression-150x100": ("expression-150", 100),
         "expression-500x20": ("expression-500", 20), "expression-500x100": ("expression-500", 100),
         "mutation-80": ("mutation-80", None), "mutation-200": ("mutation-200", None),
         "mutation-500": ("mutation-500", None)}
FEATURES = 10
SIGNAL_NOISE = 2.0   # noise SD of the signal scenarios (signal: unit-variance components)
REAL_NOISE = 1.0     # noise SD added to standardised real-derived features
MUTATION_PREVALENCE = (0.05, 0.15, 0.40)
TISSUE_PATIENTS, TILES_PER_PATIENT = 60, 5
LC25000 = ("tiles", "lc25000_lung_224px")


@dataclass(frozen=True)
class Cohort:
    """One simulated dataset: what the experiment function gets, and its chance level."""

    experiment: str
    features: dict[str, pd.DataFrame]
    targets: pd.DataFrame
    groups: pd.Series | None = None
    chance: float | None = None  # tissue: the majority class share


def make_cohort(cell: str, scenario: str, seed: int) -> Cohort:
    """The dataset ``seed`` of a fitted cell under a scenario (deterministic)."""
    rng = np.random.default_rng([FITTED_CELLS.index(cell), SCENARIOS.index(scenario), seed])
    kind, _, size = cell.partition("-")
    if kind == "expression":
        return _expression(int(size), scenario, rng)
    if kind == "mutation":
        return _mutation(int(size), scenario, rng)
    return _tissue(scenario, rng)


def _pair(signal: np.ndarray | None, scenario: str, rng: np.random.Generator,
          ids: pd.Index, noise: float = SIGNAL_NOISE) -> dict[str, pd.DataFrame]:
    """A and B: independent noise, or ``signal`` (n x FEATURES) plus noise of each's size."""
    n = len(ids)
    if scenario == "null-noise" or signal is None:
        a, b = rng.normal(size=(n, FEATURES)), rng.normal(size=(n, FEATURES))
    else:
        scale_b = POWER_NOISE.get(scenario, 1.0)
        a = signal + noise * rng.normal(size=signal.shape)
        b = signal + scale_b * noise * rng.normal(size=signal.shape)
    return {"A": pd.DataFrame(a, index=ids), "B": pd.DataFrame(b, index=ids)}


def _mixed(components: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance latent components mixed into FEATURES feature columns."""
    return components @ rng.normal(size=(components.shape[1], FEATURES))


# ------------------------------------------------------------------- real LUAD data


@cache
def luad_expression() -> pd.DataFrame:
    """Patients x genes, log2(RSEM + 1), primary tumours of the real TCGA-LUAD matrix."""
    from featx.targets.expression import expression_targets, read_rsem_matrix

    path = data_file("tables", "openomics_luad", "LUAD__geneExp.txt.gz")
    if path is None:
        raise FileNotFoundError("the TCGA-LUAD RNA-seq matrix (../shared/data/tables/"
                                "openomics_luad/) is needed for the expression cells")
    return expression_targets(read_rsem_matrix(path)).frame


@cache
def _gene_pools() -> tuple[list[str], list[str]]:
    """Immune genes (targets) and 2,000 high-variance other genes (real-derived features)."""
    from featx.targets.gene_sets import read_gene_list

    table = luad_expression()
    immune = [g for g in read_gene_list("immune")[0] if g in table.columns]
    others = table.drop(columns=immune).std().nlargest(2000).index.tolist()
    return immune, others


def _real_features(patients: pd.Index, rng: np.random.Generator) -> np.ndarray:
    """10 standardised high-variance genes (not targets) of these patients."""
    _, others = _gene_pools()
    genes = rng.choice(others, FEATURES, replace=False)
    x = luad_expression().loc[patients, genes].to_numpy()
    return (x - x.mean(axis=0)) / x.std(axis=0)


@cache
def luad_mutations() -> pd.DataFrame:
    """Patients x the 9 LUAD genes other than TP53, 0/1, patients with RNA-seq only."""
    from featx.barcodes import tcga_patient

    path = data_file("tables", "selectsim_luad_maf", "luad_mutation_matrix_10genes_nonsilent.tsv")
    if path is None:
        raise FileNotFoundError("the LUAD mutation matrix (../shared/data/tables/"
                                "selectsim_luad_maf/) is needed for the real mutation scenario")
    table = pd.read_csv(path, sep="\t", index_col=0).drop(columns="TP53")
    table.index = [tcga_patient(i) for i in table.index]
    return table.loc[table.index.intersection(luad_expression().index)]


# --------------------------------------------------------------------------- cells


def _expression(n: int, scenario: str, rng: np.random.Generator) -> Cohort:
    table = luad_expression()
    immune, _ = _gene_pools()
    patients = pd.Index(rng.choice(table.index, n, replace=False))
    targets = table.loc[patients, list(rng.choice(immune, 100, replace=False))]
    if scenario == "null-real":
        return Cohort("expression", _pair(_real_features(patients, rng), scenario, rng,
                                          patients, REAL_NOISE), targets)
    z = targets.to_numpy()
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    u, _, _ = np.linalg.svd(z, full_matrices=False)
    signal = _mixed(u[:, :3] * np.sqrt(n), rng)  # the targets' first three components
    return Cohort("expression", _pair(signal, scenario, rng, patients), targets)


def _mutation(n: int, scenario: str, rng: np.random.Generator) -> Cohort:
    if scenario == "null-real":
        table = luad_mutations()
        while True:  # a draw a user could run: every gene with 5 mutated and 5 wild-type
            patients = pd.Index(rng.choice(table.index, n, replace=False))
            genes = table.loc[patients, list(rng.choice(table.columns, 3, replace=False))]
            counts = genes.sum()
            if (counts >= 5).all() and (n - counts >= 5).all():
                break
        return Cohort("mutation", _pair(_real_features(patients, rng), scenario, rng,
                                        patients, REAL_NOISE), genes)
    ids = pd.Index([f"TCGA-SM-{i:04d}" for i in range(n)])
    h = rng.normal(size=(n, 3))
    liability = h @ rng.normal(size=(3, len(MUTATION_PREVALENCE))) + rng.normal(
        size=(n, len(MUTATION_PREVALENCE)))
    genes = np.zeros_like(liability, dtype=int)
    for g, prevalence in enumerate(MUTATION_PREVALENCE):
        mutated = max(5, round(prevalence * n))
        genes[np.argsort(-liability[:, g])[:mutated], g] = 1
    targets = pd.DataFrame(genes, index=ids,
                           columns=[f"G{round(100 * p):02d}" for p in MUTATION_PREVALENCE])
    return Cohort("mutation", _pair(_mixed(h, rng), scenario, rng, ids), targets)


@cache
def lc25000_colour_statistics() -> tuple[np.ndarray, np.ndarray]:
    """Colour-statistics features and labels of the 600 real LC25000 tiles."""
    from featx._io import read_rgb
    from featx.extractors import ColorStatsExtractor

    folder = data_file(*LC25000)
    if folder is None:
        raise FileNotFoundError("LC25000 tiles (../shared/data/tiles/lc25000_lung_224px/) are "
                                "needed for the real tissue scenario")
    table = pd.read_csv(folder / "labels.tsv", sep="\t")
    tiles = np.stack([read_rgb(folder / f) for f in table["file"]])
    return ColorStatsExtractor()(tiles).astype(np.float64), table["label"].to_numpy()


def _tissue(scenario: str, rng: np.random.Generator) -> Cohort:
    n = TISSUE_PATIENTS * TILES_PER_PATIENT
    ids = pd.Index([f"tile-{i:04d}" for i in range(n)])
    patients = np.repeat([f"P{p:03d}" for p in range(TISSUE_PATIENTS)], TILES_PER_PATIENT)
    if scenario == "null-real":
        colour, labels = lc25000_colour_statistics()
        rows = rng.choice(len(labels), n, replace=False)
        x = colour[rows]
        x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        features = {name: pd.DataFrame(x + REAL_NOISE * rng.normal(size=x.shape), index=ids)
                    for name in "AB"}
        label = pd.Series(labels[rows], index=ids)
        groups = pd.Series(rng.permutation(patients), index=ids)
    else:
        state = (np.repeat(0.7 * rng.normal(size=(TISSUE_PATIENTS, 3)), TILES_PER_PATIENT, axis=0)
                 + rng.normal(size=(n, 3)))
        label = pd.Series(np.array(["ADI", "LYM", "TUM"])[np.argmax(
            state + 0.7 * rng.normal(size=state.shape), axis=1)], index=ids)
        features = _pair(_mixed(state, rng), scenario, rng, ids)
        groups = pd.Series(patients, index=ids)
    chance = float(label.value_counts(normalize=True).max())
    return Cohort("tissue", features, label.to_frame("label"), groups, chance)
