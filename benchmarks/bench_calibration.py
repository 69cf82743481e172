"""Does the verdict the reader reads hold its level? Null calibration and power, all targets.

What a featx user reads is one headline per experiment, over ALL its targets: "A is
better for N targets" or "no evidence of a difference" (``featx evaluate`` prints it,
``featx report`` shows it; :func:`featx.evaluation.verdict_rules.overall_verdict` of
:func:`featx.evaluation.comparisons.compare_extractors`' table). This benchmark measures,
for every cell and scenario of ``calibration_cohorts.py`` (expression at 150 and 500
real TCGA-LUAD patients x 20 and 100 real immune genes; mutation at 80, 200 and 500
patients, prevalence 5-40%, default inner-CV LASSO; tissue with 5 tiles per patient and
``groups``; three nulls and two effect sizes), the share of datasets whose headline
names a winner, with its Wilson 95% interval, the per-target share, and the power.

The datasets are fitted once through the public experiment functions
(``calibration_runs.py``; score tables kept on disk, so a run resumes), and every
candidate verdict rule is computed from the same stored score tables with the
library's own rule code (:func:`featx.evaluation.verdict_rules.decide`); the chosen rule
is also recomputed through ``compare_extractors`` + ``overall_verdict`` on every dataset
and must agree (``--check-api``).

Run::

    nice -n 19 python benchmarks/calibration_runs.py /tmp/calib --processes 2  # the fits
    python benchmarks/bench_calibration.py /tmp/calib                          # the table
    python benchmarks/bench_calibration.py --small     # CI size: fits and table, ~30 s

Last full run (2026-12-07, 2-core CPU): 3.8 CPU-hours of fits (200 datasets per null cell
and 13 per effect size at 10 x 5-fold; expression-500 28 and 7 at 5 x 5-fold), 501 s for
the table with ``--check-api`` (the default rule through ``compare_extractors`` agreed on
every dataset). Chosen by the table and featx's default (``calibrated``): "chance + gate
+ factor x1.25"; its verdict over all targets named a winner in at most 4.5% of null
datasets in every cell (expression-150x100, real null; Wilson 95% [2.4, 8.3]), 2.3%
pooled, with mean power 29% (small effect) and 70% (large). Nadeau-Bengio as it was:
35.5% worst, 16.0% pooled. The removed ``count_better`` p: 40.0% worst. The full table
is in README, "Which test answers which question".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calibration_cohorts import CELLS, NULLS, POWERS, SCENARIOS  # noqa: E402
from calibration_runs import Job, load, plan, run  # noqa: E402

from featx.evaluation.comparisons import compare_extractors  # noqa: E402
from featx.evaluation.results import EXPERIMENT_METRICS  # noqa: E402
from featx.evaluation.verdict_rules import (  # noqa: E402
    CHANCE_LEVELS,
    DEFAULT_RULE,
    RULES,
    VerdictRule,
    corrected_t,
    decide,
    overall_verdict,
)

ALPHA = 0.05
#: The candidates the issue names that a score table answers (the resampling ones refit:
#: README), on a grid: Bouckaert's calibrated degrees of freedom, a larger variance factor,
#: refusing near chance, the over-targets gate, and their combinations.
CANDIDATES = {"nadeau-bengio (was)": RULES["nadeau-bengio"], "calibrated df 4":
              VerdictRule("df4", df=4)}
for _chance in (False, True):
    for _inflation in (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0):
        for _df in (None, 10):
            for _gate in (False, True):
                _name = " + ".join(
                    [w for w, on in (("chance", _chance), ("gate", _gate)) if on]
                    + ([f"factor x{_inflation:g}"] if _inflation != 1 else [])
                    + ([f"df {_df}"] if _df else [])) or "nadeau-bengio (was)"
                CANDIDATES.setdefault(_name, VerdictRule(_name, _inflation, _df, _chance, _gate))
CANDIDATES[f"{DEFAULT_RULE} (featx default)"] = RULES[DEFAULT_RULE]
#: Table rows: the verdict over all targets, and each target's.
LEVELS = ("verdict", "per target")


def cell_targets(record: dict, cell: str) -> list[str]:
    """The targets of a table cell: its first ones (20-gene cells), or "all" for tissue."""
    if record["experiment"] == "tissue":
        return ["all"]
    _, n_targets = CELLS[cell]
    return list(record["targets"][:n_targets] if n_targets else record["targets"])


def matrices(record: dict, targets: list[str], repeats: int | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """A and B per-fold scores (targets x resamples, targets sorted), n_test/n_train per
    target and the chance level of one stored dataset; optionally the first ``repeats``
    repetitions only."""
    metric = EXPERIMENT_METRICS[record["experiment"]]
    rows = record["scores"]
    rows = rows[(rows["metric"] == metric) & (rows["fold"] >= 0)
                & rows["target"].isin(targets)]
    if repeats is not None:
        rows = rows[rows["repetition"] < repeats]
    rows = rows.assign(target=rows["target"].astype(str), extractor=rows["extractor"].astype(str))
    wide = rows.pivot_table(index="target", columns=["extractor", "repetition", "fold"],
                            values="value", aggfunc="first", dropna=False).reindex(sorted(targets))
    ratio = (rows["n_test"] / rows["n_train"]).groupby(rows["target"]).mean()
    chance = record["chance"] if record["chance"] is not None else CHANCE_LEVELS.get(metric)
    return (wide["A"].to_numpy(float), wide["B"].to_numpy(float),
            ratio.reindex(sorted(targets)).to_numpy(float), chance)


def outcomes(record: dict, cell: str, rules: dict[str, VerdictRule], *,
             repeats: int | None = None) -> list[dict[str, object]]:
    """One row per rule: does the verdict over ALL targets name a winner, and whom."""
    a, b, ratio, chance = matrices(record, cell_targets(record, cell), repeats)
    job: Job = record["job"]
    rows = [factor_moments(a, b, ratio, chance, cell, job, repeats)]
    for name, rule in rules.items():
        winner = decide(a, b, ratio, rule, alpha=ALPHA, chance=chance).winner
        rows.append({"cell": cell, "scenario": job.scenario, "seed": job.seed, "rule": name,
                     "repeats": repeats or job.repeats, "targets": len(winner),
                     "verdict": bool((winner != 0).any()), "names_a": bool((winner > 0).any()),
                     "names_b": bool((winner < 0).any()),
                     "per target": float(np.mean(winner != 0))})
    return rows


def factor_moments(a: np.ndarray, b: np.ndarray, ratio: np.ndarray, chance: float | None,
                   cell: str, job: Job, repeats: int | None) -> dict[str, object]:
    """Sums over targets of the squared mean difference and of its Nadeau-Bengio variance
    parts, for the variance factor the data need (:func:`needed_factor`); all targets, and
    those whose mean score is above chance."""
    d = a - b
    n = np.sum(np.isfinite(d), axis=1)
    mean, var = np.nanmean(d, axis=1), np.nanvar(d, axis=1, ddof=1)
    above = decide(a, b, ratio, RULES[DEFAULT_RULE], chance=chance).compared
    row = {"cell": cell, "scenario": job.scenario, "seed": job.seed, "rule": "MOMENTS",
           "repeats": repeats or job.repeats}
    for label, keep in (("all", np.isfinite(mean) & (var > 0)),
                        ("above chance", above & np.isfinite(mean) & (var > 0))):
        row[f"{label}: d2"] = float(np.sum(mean[keep] ** 2))
        row[f"{label}: var/J"] = float(np.sum(var[keep] / n[keep]))
        row[f"{label}: var*ratio"] = float(np.sum(var[keep] * ratio[keep]))
    return row


def needed_factor(rows: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per null cell: the multiple of n_test/n_train that makes the corrected t's variance 1,
    (sum of squared mean differences - sum of var/J) / sum of var * n_test/n_train, with a
    bootstrap interval over datasets. Nadeau-Bengio assumes 1."""
    moments = rows[(rows["rule"] == "MOMENTS") & rows["scenario"].isin(NULLS)]
    rng = np.random.default_rng(seed)
    out = []
    for (cell, reps, scenario), group in moments.groupby(["cell", "repeats", "scenario"]):
        for label in ("all", "above chance"):
            parts = group[[f"{label}: d2", f"{label}: var/J", f"{label}: var*ratio"]].to_numpy()
            if parts[:, 2].sum() <= 0:
                continue
            draws = parts[rng.integers(0, len(parts), size=(n_boot, len(parts)))].sum(axis=1)
            factor = (parts[:, 0].sum() - parts[:, 1].sum()) / parts[:, 2].sum()
            boot = (draws[:, 0] - draws[:, 1]) / draws[:, 2]
            out.append({"cell": cell, "repeats": reps, "scenario": scenario, "targets": label,
                        "n": len(group), "inflation needed": factor,
                        "low": np.quantile(boot, 0.025), "high": np.quantile(boot, 0.975)})
    return pd.DataFrame(out)


def public_verdict(record: dict, cell: str, rule: str | VerdictRule) -> bool:
    """The same dataset's headline through ``compare_extractors`` + ``overall_verdict``."""
    metric = EXPERIMENT_METRICS[record["experiment"]]
    scores = record["scores"]
    if record["experiment"] != "tissue":
        scores = scores[scores["target"].isin(cell_targets(record, cell))]
    scores = scores.assign(**{c: scores[c].astype(str) for c in ("target", "extractor", "metric",
                                                                 "experiment")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a target with a missing resample, as in the fits
        comparison = compare_extractors(scores, "A", "B", metric=metric, verdict_rule=rule,
                                        chance=record["chance"])
    return overall_verdict(comparison).names_a_winner


def removed_count_pvalue(record: dict, cell: str) -> float:
    """The removed ``count_better`` p: corrected t of the per-resample net share of wins
    over the targets significant for either extractor (expression only)."""
    scores = record["scores"]
    pooled = scores[(scores["fold"] == -1) & scores["target"].isin(cell_targets(record, cell))]
    r = pooled[pooled["metric"] == "pearson_r"].groupby(["target", "extractor"],
                                                       observed=True)["value"].mean().unstack()
    p = pooled[pooled["metric"] == "pearson_p"].groupby(["target", "extractor"],
                                                       observed=True)["value"].median().unstack()
    significant = ((p < ALPHA) & (r > 0)).any(axis=1)
    chosen = list(significant.index[significant])
    if not chosen:
        return float("nan")
    a, b, ratio, _ = matrices(record, [str(t) for t in chosen])
    wins = np.mean(np.sign(a - b), axis=0)
    return float(corrected_t(wins, ratio.mean(keepdims=True), RULES["nadeau-bengio"]).pvalue[0])


def evaluate_all(root: Path, rules: dict[str, VerdictRule], *, repeats: Iterable[int] = (10, 5),
                 prefixes: Iterable[int] = (5,), check_api: str | None = None) -> pd.DataFrame:
    """Outcome rows of every stored dataset, cell and rule (and shorter prefixes of repeats)."""
    rows, mismatches = [], 0
    for reps in repeats:
        for record in load(root, reps):
            for cell, (fitted, _) in CELLS.items():
                if fitted != record["job"].cell:
                    continue
                rows += outcomes(record, cell, rules)
                for prefix in prefixes:
                    if prefix < reps:
                        rows += outcomes(record, cell, rules, repeats=prefix)
                if check_api:
                    ours = next(r["verdict"] for r in rows[::-1] if r["rule"] == check_api
                                and r["cell"] == cell and r["repeats"] == reps)
                    mismatches += ours != public_verdict(record, cell, rules[check_api])
                if record["experiment"] == "expression" and reps in (10, 5):
                    rows.append({"cell": cell, "scenario": record["job"].scenario,
                                 "seed": record["job"].seed, "rule": "REMOVED count_better p",
                                 "repeats": reps, "targets": CELLS[cell][1],
                                 "verdict": bool(removed_count_pvalue(record, cell) < ALPHA)})
    if check_api and mismatches:
        raise AssertionError(f"{mismatches} datasets where compare_extractors' verdict differs "
                             "from the rule computed on the stored matrices")
    return pd.DataFrame(rows)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Rates with intervals: one row per (rule, repeats, cell, scenario, level)."""
    out = []
    rows = rows[rows["rule"] != "MOMENTS"]
    for (rule, reps, cell, scenario), group in rows.groupby(
            ["rule", "repeats", "cell", "scenario"], sort=False):
        n = len(group)
        # power: the verdict names A, the truly better one (naming B counts as wrong_way)
        hit = "names_a" if scenario in POWERS and "names_a" in group else "verdict"
        k = int(group[hit].sum())
        entry = {"rule": rule, "repeats": reps, "cell": cell, "scenario": scenario, "n": n}
        out.append({**entry, "level": "verdict", "rate": k / n, **dict(zip(
            ("low", "high"), wilson(k, n))),
            "wrong_way": float(group["names_b"].mean()) if "names_b" in group else np.nan})
        if "per target" in group and group["per target"].notna().all():
            shares = group["per target"].to_numpy(float)
            half = 1.959964 * shares.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
            out.append({**entry, "level": "per target", "rate": shares.mean(),
                        "low": max(0.0, shares.mean() - half),
                        "high": min(1.0, shares.mean() + half)})
    return pd.DataFrame(out)


def rule_summary(table: pd.DataFrame, repeats: int | None = None) -> pd.DataFrame:
    """Per rule: worst null verdict rate over cells (and where), pooled null rate, power."""
    verdict = table[(table["level"] == "verdict")]
    if repeats is not None:
        verdict = verdict[verdict["repeats"] == repeats]
    else:  # each cell at the repetitions it was fitted with
        verdict = verdict[verdict["repeats"] == verdict.groupby("cell")["repeats"].transform("max")]
    out = []
    for rule, group in verdict.groupby("rule", sort=False):
        nulls = group[group["scenario"].isin(NULLS)]
        worst = nulls.loc[nulls["rate"].idxmax()]
        pooled = (nulls["rate"] * nulls["n"]).sum() / nulls["n"].sum()
        power = {s: group.loc[group["scenario"] == s, "rate"].mean() for s in POWERS}
        out.append({"rule": rule, "worst null rate": worst["rate"],
                    "worst cell": f"{worst['cell']} {worst['scenario']}",
                    "pooled null rate": pooled,
                    "holds (max <= 7.5%)": bool(nulls["rate"].max() <= 0.075),
                    **{f"mean {s}": v for s, v in power.items()}})
    return pd.DataFrame(out)


def choose(summary: pd.DataFrame) -> str | None:
    """The rule the table picks: every null cell at most 7.5%, pooled at most 5%, then the
    highest mean power over cells and both effect sizes."""
    valid = summary[summary["holds (max <= 7.5%)"] & (summary["pooled null rate"] <= 0.05)
                    & ~summary["rule"].str.startswith("REMOVED")]
    if valid.empty:
        return None
    power = valid[[f"mean {s}" for s in POWERS]].mean(axis=1)
    return str(valid.loc[power.idxmax(), "rule"])


def print_cells(table: pd.DataFrame, rule: str) -> None:
    """The full table of one rule: every cell, scenario and level."""
    rows = table[table["rule"] == rule]
    print(f"\nRule: {rule}. Share of datasets naming a winner (verdict over all targets) and "
          "share of targets named (per target), 95% interval; n datasets")
    header = f"{'cell':<20}{'reps':>5} {'level':<11}" + "".join(f"{s:>24}" for s in SCENARIOS)
    print(header)
    for (cell, reps, level), group in rows.groupby(["cell", "repeats", "level"], sort=False):
        cells = []
        for s in SCENARIOS:
            hit = group[group["scenario"] == s]
            cells.append("" if hit.empty else
                         f"{hit['rate'].iloc[0]:6.1%} [{hit['low'].iloc[0]:4.1%},"
                         f"{hit['high'].iloc[0]:5.1%}] {int(hit['n'].iloc[0]):3d}")
        print(f"{cell:<20}{reps:>5} {level:<11}" + "".join(f"{c:>24}" for c in cells))


def markdown(table: pd.DataFrame, rule: str) -> str:
    """One rule's table for the README: every cell, verdict and per-target rows."""
    rows = table[table["rule"] == rule]
    fitted = rows.groupby("cell")["repeats"].transform("max")
    rows = rows[rows["repeats"] == fitted]
    lines = ["| cell | reps | level | " + " | ".join(SCENARIOS) + " |",
             "|---|---|---|" + "---|" * len(SCENARIOS)]
    for (cell, reps, level), group in rows.groupby(["cell", "repeats", "level"], sort=False):
        cells = []
        for s in SCENARIOS:
            hit = group[group["scenario"] == s]
            if hit.empty:
                cells.append("")
                continue
            rate, low, high, n = hit[["rate", "low", "high", "n"]].iloc[0]
            text = f"{100 * rate:.1f} [{100 * low:.1f}, {100 * high:.1f}] ({int(n)})"
            cells.append(f"**{text}**" if s in NULLS and level == "verdict" and rate > 0.075
                         else text)
        lines.append(f"| {cell} | {reps} | {level} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def small_run(root: Path) -> pd.DataFrame:
    """The CI-sized version: 2 datasets per null, 1 per effect size, 2 x 5-fold, 4 cells."""
    jobs = plan(cells=("tissue", "expression-150", "mutation-80"), datasets=2,
                power_datasets=1, repeats=2, repeats_of={})
    run(jobs, root, processes=1, log=False)
    return evaluate_all(root, {"featx default": RULES[DEFAULT_RULE],
                               "nadeau-bengio": RULES["nadeau-bengio"]}, repeats=(2,),
                        prefixes=(), check_api="featx default")


def lasso_inner_cv_vs_fixed(datasets: int, *, n: int = 150, p: int = 60,
                            n_repeats: int = 2) -> pd.DataFrame:
    """Out-of-fold AUC of the inner-CV penalty against fixed C = 1 on weak sparse signal."""
    from featx.evaluation.mutation import predict_mutations

    rows = []
    for seed in range(datasets):
        rng = np.random.default_rng(seed + 40_000)
        x = rng.normal(size=(n, p))
        liability = x[:, :3] @ np.array([0.5, 0.4, 0.3]) + rng.normal(size=n)
        ids = [f"TCGA-LS-{i:04d}" for i in range(n)]
        genes = pd.DataFrame({"G": (liability > np.quantile(liability, 0.7)).astype(int)},
                             index=ids)
        feats = {"X": pd.DataFrame(x, index=ids)}
        for label, options in (("inner CV (lambda.min)", {}), ("inner CV (lambda.1se)",
                               {"rule": "1se"}), ("fixed C = 1", {"C": 1.0})):
            scores = predict_mutations(feats, genes, n_repeats=n_repeats, seed=seed,
                                       **options).scores
            auc = scores.query("fold == -1 and metric == 'roc_auc'")["value"].mean()
            nonzero = scores.query("metric == 'n_nonzero'")["value"].mean()
            rows.append({"penalty": label, "seed": seed, "auc": auc, "n_nonzero": nonzero})
    return (pd.DataFrame(rows).groupby("penalty", sort=False)
            .agg(mean_auc=("auc", "mean"), sd_auc=("auc", "std"),
                 mean_nonzero=("n_nonzero", "mean"), datasets=("seed", "size")).reset_index())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", help="folder of calibration_runs.py")
    parser.add_argument("--small", action="store_true", help="CI size, in a temporary folder")
    parser.add_argument("--check-api", action="store_true",
                        help="recompute the default rule through compare_extractors too")
    parser.add_argument("--csv", type=Path, help="write the summarised table here")
    parser.add_argument("--lasso", type=int, default=0, metavar="N",
                        help="only compare inner-CV and fixed-C LASSO on N weak-signal datasets")
    parser.add_argument("--markdown", action="store_true", help="the default rule's table as "
                        "Markdown (README)")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.lasso:
        print(lasso_inner_cv_vs_fixed(args.lasso).to_string(
            index=False, float_format=lambda v: f"{v:.3f}"))
        return
    if args.small:
        with tempfile.TemporaryDirectory() as tmp:
            rows = small_run(Path(tmp))
    else:
        rows = evaluate_all(args.root, CANDIDATES, check_api=(
            f"{DEFAULT_RULE} (featx default)" if args.check_api else None))
    table = summarise(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
        rows.to_csv(args.csv.with_suffix(".rows.csv.gz"), index=False)
    if not args.small:
        print("Variance factor the nulls need, as a multiple of n_test/n_train (95% bootstrap "
              "interval over datasets):")
        print(needed_factor(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    summary = rule_summary(table)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    chosen = choose(summary)
    print(f"\nChosen by the table: {chosen}")
    if not args.small:
        shorter = rule_summary(table, repeats=5).set_index("rule")
        print("\nThe same datasets at 5 x 5-fold (the first 5 repetitions; does the rule "
              "depend on the number of resamples?):")
        print(shorter.loc[[r for r in (chosen, next(r for r in shorter.index if "default" in r),
                                       "nadeau-bengio (was)") if r in shorter.index]]
              .to_string(float_format=lambda v: f"{v:.3f}"))
    for rule in table["rule"].unique():
        if "default" in rule or rule.startswith("REMOVED") or args.small:
            print_cells(table, rule)
    if args.markdown:
        print("\n" + markdown(table, next(r for r in table["rule"].unique() if "default" in r)))
        print("\n| rule | worst null cell | pooled null | power (small) | power (large) |\n"
              "|---|---|---|---|---|")
        for row in summary.itertuples(index=False):
            print(f"| {row.rule} | {100 * row[1]:.1f}% ({row[2]}) | {100 * row[3]:.1f}% | "
                  f"{100 * row[5]:.0f}% | {100 * row[6]:.0f}% |")
    print(f"\n{time.perf_counter() - start:.0f} s wall")


if __name__ == "__main__":
    main()
