"""``featx evaluate``: every extractor cross-validated on the same folds, and the paired tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from featx.cli._app import app, output_dir

if TYPE_CHECKING:
    import pandas as pd


@app.command()
def evaluate(
    embeddings: Annotated[list[str], typer.Argument(
        help="Embedding tables, one per extractor: Parquet files (named by file stem), "
        "`NAME=path`, a folder of Parquet files, or a featx store folder "
        "(`extractor=NAME` sub-folders).")],
    targets: Annotated[Path, typer.Option(
        "--targets", "-t", help="Target table (TSV, CSV or Parquet), one row per patient "
        "(expression, mutation) or tile (tissue); IDs in the first column or --target-id-column.")],
    experiment: Annotated[str, typer.Option(
        "--experiment", "-e", help="`tissue` (LinearSVC, accuracy), `expression` (SVR per "
        "target, Pearson r) or `mutation` (LASSO logistic per gene, ROC AUC).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("results"),
    columns: Annotated[str | None, typer.Option(
        help="Comma-separated target columns to use (default: all but the ID; tissue: `label`).")
    ] = None,
    n_splits: Annotated[int, typer.Option("--folds", help="Folds per repetition.", min=2)] = 5,
    n_repeats: Annotated[int, typer.Option("--repeats", help="Repetitions of the K-fold.", min=1)] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the folds (same for every extractor).", min=0)] = 0,
    id_mode: Annotated[str, typer.Option(
        help="`tcga`: match on the patient part of TCGA barcodes (first 12 characters); "
        "`exact`: match IDs as they are (tissue always uses exact).")] = "tcga",
    id_column: Annotated[str | None, typer.Option(
        help="ID column of the embedding tables (default: patient_id, patient, slide_id, "
        "sample, tile_id, file, else the index).")] = None,
    target_id_column: Annotated[str | None, typer.Option(
        help="ID column of the target table (default: its first column).")] = None,
    group_column: Annotated[str | None, typer.Option(
        help="Tissue only: column of the target table naming each tile's patient, so that "
        "a patient's tiles stay in one fold (StratifiedGroupKFold).")] = None,
    pool: Annotated[bool, typer.Option(
        "--pool/--no-pool", help="Average each patient's rows (tiles, slides) into one "
        "patient-mean embedding (expression and mutation only).")] = True,
    transform: Annotated[str, typer.Option(
        help="Expression targets: `log2p1` = log2(x + 1), `log1p` = ln(x + 1), `none`, or "
        "`auto`: none when the table's provenance says `featx targets` already applied "
        "log2(x + 1), else log2p1.")] = "auto",
    kernel: Annotated[str, typer.Option(help="Expression SVR kernel: `rbf` or `linear`.")] = "rbf",
    svr_c: Annotated[float | None, typer.Option(
        "--svr-c", help="Expression: SVR cost C (default 1).", min=0.0)] = None,
    epsilon: Annotated[float | None, typer.Option(
        help="Expression: SVR epsilon, in the targets' units, or in SDs with --scale-y "
        "(default 0.1).", min=0.0)] = None,
    scale_y: Annotated[bool | None, typer.Option(
        "--scale-y/--no-scale-y", help="Expression: standardise each fold's training targets "
        "before the SVR (R e1071's default); default no (scikit-learn's).")] = None,
    lasso_c: Annotated[float | None, typer.Option(
        "--lasso-c", help="Mutation: a fixed inverse L1 penalty C for every fold (glmnet's "
        "lambda = 1 / (C * n_train)); default: chosen by inner CV in each training fold.",
        min=0.0)] = None,
    lasso_rule: Annotated[str | None, typer.Option(
        help="Mutation: the inner-CV choice, `min` (glmnet lambda.min, the default) or `1se` "
        "(lambda.1se, the strongest penalty within one SE of the best).")] = None,
    inner_folds: Annotated[int | None, typer.Option(
        help="Mutation: inner CV folds (default 5).", min=2)] = None,
    penalties: Annotated[int | None, typer.Option(
        help="Mutation: penalties on the inner-CV path (default 20).", min=1)] = None,
    svc_c: Annotated[float | None, typer.Option(
        "--svc-c", help="Tissue: LinearSVC C (default 1).", min=0.0)] = None,
    verdict_rule: Annotated[str, typer.Option(
        help="How the paired tests name a winner: `calibrated` (the default; holds its level "
        "in the calibration benchmark) or another of featx.evaluation.verdict_rules.RULES.")
    ] = "calibrated",
    alpha: Annotated[float, typer.Option(
        help="Level of the verdicts (BH q over targets, and the chance check).",
        min=0.0, max=1.0)] = 0.05,
    jobs: Annotated[int, typer.Option(
        help="Worker processes fitting folds side by side (results do not depend on it).",
        min=1)] = 1,
    table_format: Annotated[str, typer.Option("--format", help="`parquet` or `csv`.")] = "parquet",
    reference: Annotated[str | None, typer.Option(
        help="N-way: compare each extractor with this one (default: every pair when there "
        "are three or more extractors).")] = None,
    correction: Annotated[str, typer.Option(
        help="N-way: correction across pairs, `holm` (family-wise error) or `bh` "
        "(Benjamini-Hochberg false discovery rate).")] = "holm",
) -> None:
    """Cross-validate every extractor on the same folds and write tidy score tables.

    Writes `<experiment>_scores.<format>` (experiment, extractor, target, repetition,
    fold, metric, value, n_train, n_test, n_splits; fold -1 = a whole repetition's
    out-of-fold score), for tissue also `tissue_confusion`, and with two or more
    extractors `<experiment>_comparison.csv`: per target, the first extractor against
    each other one: the verdict of `--verdict-rule` (a corrected resampled t after
    Nadeau-Bengio, Benjamini-Hochberg q over targets, and why no winner is named where
    none is), with the liberal plain t-test and Wilcoxon beside it for the literature.
    With three or more extractors also
    `<experiment>_pairs.csv` (every pair, or each against `--reference`, on the same
    folds, p-values corrected across pairs by `--correction`), `_ranking.csv` (mean
    score per target with its corrected interval, and rank) and `_mean_ranks.csv`.
    Imported extractors (`featx import`) sit in the store beside extracted ones.

    \b
    Example:
      featx evaluate FTX=ftx.parquet IMGNET=imgnet.parquet -t mutations.tsv -e mutation -o results/
    """
    from featx._validate import one_of
    from featx.evaluation import mean_by_patient
    from featx.evaluation.embedding_tables import (
        embedding_sources,
        read_embeddings,
        source_provenance,
    )
    from featx.evaluation.experiments import (
        read_targets,
        run_evaluation,
        select_targets,
        targets_provenance,
    )
    from featx.evaluation.results import EXPERIMENTS
    from featx.evaluation.verdict_rules import RULES

    one_of("--experiment", experiment, EXPERIMENTS)
    one_of("--verdict-rule", verdict_rule, tuple(RULES))
    output_dir(out)
    one_of("--format", table_format, ("parquet", "csv"))
    one_of("--correction", correction, ("holm", "bh"))
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    target_table, groups = select_targets(read_targets(targets, id_column=target_id_column),
                                          experiment, columns=wanted, group_column=group_column,
                                          source=str(targets))
    sources = embedding_sources(embeddings)
    features = {}
    for name, path in sources.items():
        table = read_embeddings(path, id_column=id_column)
        if pool and experiment != "tissue":
            table = mean_by_patient(table, id_mode=id_mode)
        features[name] = table
        typer.echo(f"{name}: {table.shape[0]} rows x {table.shape[1]} features from {path}")
    options: dict[str, object] = {"n_splits": n_splits, "n_repeats": n_repeats, "seed": seed,
                                  "n_jobs": jobs, "progress": True}
    if experiment == "tissue":
        options["groups"] = groups
    else:
        options["id_mode"] = id_mode
    if experiment == "expression":
        options.update(transform=_transform(transform, targets), kernel=kernel)
    options.update(_model_options(experiment, {
        "expression": {"C": svr_c, "epsilon": epsilon, "scale_y": scale_y},
        "mutation": {"C": lasso_c, "rule": lasso_rule, "inner_splits": inner_folds,
                     "n_Cs": penalties},
        "tissue": {"C": svc_c}}))
    provenance = {
        "extractors": {name: source_provenance(path) for name, path in sources.items()},
        "targets": targets_provenance(targets, target_table.columns),
        "options": {k: v for k, v in options.items() if k not in ("progress", "groups")},
        "alpha": alpha,
    }
    if reference is not None:
        one_of("--reference", reference, tuple(features))
    done = run_evaluation(experiment, features, target_table, out, fmt=table_format,
                          provenance=provenance, reference=reference, correction=correction,
                          verdict_rule=verdict_rule, alpha=alpha, **options)
    names = list(features)
    if done.comparison is not None:
        for other in names[1:]:
            typer.echo(verdict_line(done.comparison[done.comparison["b"] == other]))
    else:
        typer.echo(f"one extractor ({names[0]}): nothing to compare; its scores per target "
                   "are in the results (evaluate a second extractor on the same targets to "
                   "compare them)")
    if done.multiway is not None:
        pairs = done.multiway.pairs
        typer.echo(f"{len(set(zip(pairs['a'], pairs['b'])))} pairs, "
                   f"{pairs['correction'].iloc[0]}: {int(pairs['significant'].sum())} of "
                   f"{len(pairs)} pair-target tests significant at 0.05")
        for row in done.multiway.mean_ranks.itertuples():
            typer.echo(f"  {row.extractor}: mean rank {row.mean_rank:.2f} "
                       f"[{row.ci_low:.2f}, {row.ci_high:.2f}] over {row.n_targets} targets")
    typer.echo(f"{len(done.result.ids)} rows used; wrote " + ", ".join(str(p) for p in done.written))
    typer.echo(f"next: featx report NAME --results {out}")


def _model_options(experiment: str, by_experiment: dict[str, dict[str, object]],
                   ) -> dict[str, object]:
    """The options given for this experiment; one for another experiment is an error."""
    flags = {"C": {"expression": "--svr-c", "mutation": "--lasso-c", "tissue": "--svc-c"},
             "epsilon": "--epsilon", "scale_y": "--scale-y", "rule": "--lasso-rule",
             "inner_splits": "--inner-folds", "n_Cs": "--penalties"}
    from featx.errors import InvalidParameterError

    for other, given in by_experiment.items():
        for key, value in given.items():
            if other != experiment and value is not None:
                flag = flags[key][other] if isinstance(flags[key], dict) else flags[key]
                raise InvalidParameterError(flag, f"used with --experiment {other} only",
                                            value)
    return {k: v for k, v in by_experiment.get(experiment, {}).items() if v is not None}


def verdict_line(rows: pd.DataFrame) -> str:
    """The terminal's answer for one pair: the headline of the comparison's ``verdict`` column.

    The same column the CSV holds and the report's cards count, so the three agree.
    """
    from featx.evaluation.verdict_rules import overall_verdict

    overall = overall_verdict(rows)
    a, b = overall.a, overall.b
    counts = (f"{a} better in {overall.better_a}, {b} in {overall.better_b}; no evidence "
              f"either way in {overall.no_difference}")
    if overall.not_enough_data:
        counts += f"; not enough data in {overall.not_enough_data}"
    if overall.rule:
        counts += f"; {overall.rule} verdict rule"
    return f"{a} vs {b}: {overall.headline} ({counts})"


def _transform(option: str, targets: Path) -> str:
    """``--transform auto``: never log a table twice that `featx targets` already logged."""
    if option != "auto":
        return option
    from featx.targets.table import recorded_transform

    if recorded_transform(targets) == "log2p1":
        typer.echo(f"{targets.name}: already log2(x + 1) (its provenance says so); not "
                   "transformed again")
        return "none"
    return "log2p1"
