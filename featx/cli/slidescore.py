"""``featx slidescore``: heatmaps and slide scores from tile probabilities or embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featx.cli._app import app, output_dir, warn


@app.command()
def slidescore(
    table: Annotated[Path, typer.Argument(
        help="Tile probabilities: a Parquet, CSV or TSV table with columns slide_id, row, col "
        "and a tumour-probability column (one row per tissue tile).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("slidescore"),
    labels: Annotated[Path | None, typer.Option(
        help="Slide labels: CSV/TSV/Parquet with slide_id and label (1 tumour, 0 normal). "
        "Adds metrics, ROC and violin figures, and the random-forest score.")] = None,
    prob_column: Annotated[str, typer.Option(help="Column of tile tumour probabilities.")] = "prob",
    classifier: Annotated[Path | None, typer.Option(
        help="A fitted scikit-learn tile classifier saved with joblib.dump. Then TABLE holds "
        "embeddings instead of probabilities: an `embedding` column of arrays (the featx "
        "store's Parquet files; TABLE may be their folder) or numeric feature columns. "
        "joblib files run code when loaded: use only your own.")] = None,
    k: Annotated[int, typer.Option(
        help="Top-k score: mean of the k highest values.", min=1)] = 1000,
    unit: Annotated[str, typer.Option(
        help="What k counts: `tile`, or `pixel` of the heatmap upsampled --pixels-per-tile "
        "times per side (the gastric paper's top 1000 pixels).")] = "tile",
    pixels_per_tile: Annotated[int, typer.Option(
        help="Heatmap pixels per tile side, for --unit pixel.", min=1)] = 1,
    forest: Annotated[bool, typer.Option(
        help="Also train a random forest on 30 heatmap features (needs --labels); its scores "
        "are out-of-fold, so every slide is scored by a forest that never saw it.")] = True,
    cv: Annotated[int, typer.Option(help="Cross-validation folds for the forest.", min=2)] = 5,
    min_sensitivity: Annotated[float, typer.Option(
        help="Screening operating point: the threshold keeping at least this sensitivity.",
        min=0.0, max=1.0)] = 0.99,
) -> None:
    """Turn tile tumour probabilities into heatmaps and slide scores.

    Writes `slide_scores.csv` (top-k score, and with --labels the forest's out-of-fold
    score and the label), `heatmap_features.csv`, `heatmaps.npz` (one [row, col] array per
    slide, NaN off tissue) and `heatmaps/<slide_id>.png`. With --labels also
    `metrics.csv` (ROC AUC, PR-AUC, accuracy, sensitivity, specificity and Cohen's kappa
    at 0.5 and at the screening threshold), `roc.png` and `violin_<score>.png`.

    \b
    Examples (tile probabilities; stored embeddings and a tile classifier):
      featx slidescore tile_probs.parquet --labels slides.csv --k 10 -o scores/
      featx slidescore store/extractor=FTX-2048/ --classifier tumour_lr.joblib -o scores/
    """
    import warnings

    import numpy as np

    from featx._io import read_table
    from featx.errors import DataError, DataNotFoundError, InvalidParameterError
    from featx.slidescore import embedding_probabilities, score_slides

    output_dir(out)
    tiles = read_table(table, what="tile table")
    if classifier is not None:
        import joblib

        if not classifier.is_file():
            raise DataNotFoundError(f"classifier {classifier}", "Save it with joblib.dump.")
        if "embedding" in tiles.columns:
            embeddings = np.stack(tiles["embedding"].to_numpy())
        else:
            from featx.evaluation.embedding_tables import TILE_METADATA

            meta = set(TILE_METADATA)
            embeddings = tiles[[c for c in tiles.columns if c not in meta]].to_numpy(float)
        prob_column = "prob"
        try:
            model = joblib.load(classifier)
        except Exception as error:  # noqa: BLE001 - pickle raises many kinds for a wrong file
            raise DataError(f"classifier {classifier}", f"not a model saved with joblib.dump "
                            f"({type(error).__name__}: {str(error)[:120]})",
                            "Pass the .joblib file of a fitted scikit-learn classifier") from None
        tiles = tiles.assign(prob=embedding_probabilities(model, embeddings))
    truth = None
    if labels is not None:
        truth = read_table(labels, what="slide labels")
        if not {"slide_id", "label"} <= set(truth.columns):
            raise InvalidParameterError("--labels", "a table with slide_id and label columns",
                                        list(truth.columns))
        truth = truth.assign(slide_id=truth["slide_id"].astype(str)).set_index("slide_id")["label"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        done = score_slides(tiles, out, labels=truth, prob_column=prob_column, k=k, unit=unit,
                            pixels_per_tile=pixels_per_tile, forest=forest, cv=cv,
                            min_sensitivity=min_sensitivity)
    for warning in caught:  # e.g. --cv lowered for a small class: said, one line each
        if issubclass(warning.category, UserWarning):
            typer.echo(f"warning: {warning.message}", err=True)
    if done.metrics is not None:
        for name, row in done.metrics.iterrows():
            typer.echo(f"{name}: ROC AUC {row['roc_auc']:.3f}, PR-AUC {row['pr_auc']:.3f}, "
                       f"sensitivity/specificity at 0.5 {row['sensitivity_at_0.5']:.2f}/"
                       f"{row['specificity_at_0.5']:.2f}")
    if unit == "tile" and "n_tiles" in done.scores and k >= int(done.scores["n_tiles"].min()):
        warn(f"--k {k} is at least the tile count of {int((done.scores['n_tiles'] <= k).sum())} "
             f"slide(s) (smallest: {int(done.scores['n_tiles'].min())} tiles): their top-k "
             "score is the mean of all their tiles; lower --k to rank their hottest tiles")
    ids = done.scores["slide_id"]
    typer.echo(f"{len(ids)} slides scored -> {out.resolve()}")
    typer.echo(f"next: featx report NAME --slidescores {out} --slides SLIDES/")
