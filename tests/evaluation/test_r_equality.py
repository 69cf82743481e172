"""featx against the paper's own tools in R, on the same folds and data.

* SVR with ``scale_y=True`` against ``e1071::svm(type="eps-regression", scale=TRUE)``: same
  kernel, cost and epsilon; gamma is featx's 1 / n_features on features standardised with
  the n-divisor SD, which is e1071's gamma times (n_train - 1) / n_train on its n - 1 scale.
* LASSO at a given penalty against ``glmnet(family="binomial", alpha=1)``:
  lambda = 1 / (C * n_train).
* The inner-CV choice of :class:`~featx.evaluation.lasso.LassoLogisticCV` against
  ``cv.glmnet(type.measure="auc")`` with the same ``foldid`` and lambda path.
* DeLong's test against ``pROC::roc.test(method="delong", paired=TRUE)``.

Skipped where ``Rscript`` or the packages are absent (CI installs ``r-base-core r-cran-e1071
r-cran-glmnet r-cran-proc`` from Debian). Each test prints its largest difference.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from featx.evaluation.expression import regress_expression
from featx.evaluation.lasso import UNPENALISED_INTERCEPT_SCALING, LassoLogisticCV, l1_path_fit
from featx.evaluation.paired_tests import delong_test
from featx.evaluation.scaling import standardise


def _r_available() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (apt-get install r-base-core)"
    check = subprocess.run(["Rscript", "-e", "for (p in c('e1071', 'glmnet', 'pROC')) "
                            "if (!requireNamespace(p, quietly = TRUE)) quit(status = 3)"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        return "R packages e1071, glmnet or pROC are missing (r-cran-e1071 r-cran-glmnet r-cran-proc)"
    return None


pytestmark = pytest.mark.skipif(_r_available() is not None, reason=str(_r_available()))


def _rscript(folder: Path, code: str) -> None:
    script = folder / "run.R"
    script.write_text(code)
    done = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]


def _csv(path: Path, array: np.ndarray) -> None:
    pd.DataFrame(np.atleast_2d(array)).to_csv(path, index=False, header=False)


def _read(path: Path) -> np.ndarray:
    return pd.read_csv(path, header=None).to_numpy(dtype=float)


def test_svr_scale_y_equals_e1071_eps_regression(tmp_path):
    rng = np.random.default_rng(0)
    n, p = 60, 4
    x = rng.normal(size=(n, p))
    y = np.column_stack([3 + x[:, 0] + 0.5 * rng.normal(size=n),
                         10 * np.sin(x[:, 1]) + rng.normal(size=n),
                         x[:, 2] * x[:, 3] + 0.3 * rng.normal(size=n)])
    ids = [f"TCGA-AA-{i:04d}" for i in range(n)]
    targets = pd.DataFrame(y, index=ids, columns=["g0", "g1", "g2"])
    result = regress_expression({"X": pd.DataFrame(x, index=ids)}, targets, transform="none",
                                scale_y=True, C=2.0, epsilon=0.2, n_splits=5, n_repeats=1)
    ours = (result.predictions.pivot_table(index="sample", columns="target", values="predicted")
            .reindex(index=ids, columns=["g0", "g1", "g2"]).to_numpy())
    _csv(tmp_path / "x.csv", x)
    _csv(tmp_path / "y.csv", y)
    _csv(tmp_path / "fold.csv", result.folds["all"].fold_ids[0])
    _rscript(tmp_path, """
suppressMessages(library(e1071))
x <- as.matrix(read.csv("x.csv", header = FALSE)); y <- as.matrix(read.csv("y.csv", header = FALSE))
fold <- as.integer(read.csv("fold.csv", header = FALSE)[1, ])
pred <- matrix(NA, nrow(x), ncol(y))
for (f in unique(fold)) {
  train <- fold != f; n <- sum(train)
  for (t in seq_len(ncol(y))) {
    model <- svm(x[train, ], y[train, t], type = "eps-regression", kernel = "radial",
                 gamma = (1 / ncol(x)) * n / (n - 1), cost = 2, epsilon = 0.2, scale = TRUE)
    pred[!train, t] <- predict(model, x[!train, , drop = FALSE])
  }
}
write.table(pred, "pred.csv", sep = ",", row.names = FALSE, col.names = FALSE)
""")
    theirs = _read(tmp_path / "pred.csv")
    worst = np.abs(ours - theirs).max()
    print(f"SVR (scale_y) vs e1071: largest prediction difference {worst:.2e} "
          f"(targets' SD {y.std(axis=0).min():.2f}-{y.std(axis=0).max():.2f})")
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3 * y.std())


def _binary_data(seed: int, n: int = 100, p: int = 8, positives: int = 30):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 3, size=p) + rng.normal(size=p)
    liability = x[:, 0] - 0.5 * x[:, 1] + rng.normal(size=n)
    y = np.zeros(n, dtype=int)
    y[np.argsort(-liability)[:positives]] = 1
    return x, y


def test_lasso_at_a_given_penalty_equals_glmnet_binomial(tmp_path):
    x, y = _binary_data(1)
    train, test = np.arange(80), np.arange(80, 100)
    z_train, z_test = standardise(x, train, test)
    rows = []
    for C in (0.02, 0.05, 0.2):
        coef, intercept = l1_path_fit(z_train, y[train], C, UNPENALISED_INTERCEPT_SCALING)
        rows.append(z_test @ coef + intercept)
    ours = np.column_stack(rows)
    _csv(tmp_path / "x.csv", x)
    _csv(tmp_path / "y.csv", y)
    _rscript(tmp_path, """
suppressMessages(library(glmnet))
x <- as.matrix(read.csv("x.csv", header = FALSE)); y <- read.csv("y.csv", header = FALSE)[1, ]
y <- as.numeric(y); train <- 1:80; test <- 81:100
link <- sapply(c(0.02, 0.05, 0.2), function(C) {
  fit <- glmnet(x[train, ], y[train], family = "binomial", alpha = 1,
                lambda = 1 / (C * length(train)), standardize = TRUE, thresh = 1e-14,
                maxit = 1e7)
  as.numeric(predict(fit, x[test, ], type = "link"))
})
write.table(link, "link.csv", sep = ",", row.names = FALSE, col.names = FALSE)
""")
    theirs = _read(tmp_path / "link.csv")
    worst = np.abs(ours - theirs).max()
    print(f"LASSO vs glmnet(binomial, alpha=1): largest linear-predictor difference {worst:.2e} "
          f"(predictor range {np.ptp(theirs):.2f})")
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-2)


def test_inner_cv_choice_equals_cv_glmnet_with_the_same_foldid(tmp_path):
    # 100 rows, 30 positives: five stratified inner folds of exactly 20 rows (6 positives),
    # where cv.glmnet's fold-size weights are equal and its mean is featx's.
    x, y = _binary_data(2)
    model = LassoLogisticCV(n_Cs=12, cv=5, random_state=3).fit(x, y)
    foldid = np.empty(len(y), dtype=int)
    splits = StratifiedKFold(5, shuffle=True, random_state=3).split(x, y)
    for f, (_, test) in enumerate(splits):
        foldid[test] = f + 1
    _csv(tmp_path / "x.csv", x)
    _csv(tmp_path / "y.csv", y)
    _csv(tmp_path / "foldid.csv", foldid)
    _csv(tmp_path / "lambda.csv", 1 / (model.Cs_ * len(y)))  # Cs_ ascend: lambda decreases
    _rscript(tmp_path, """
suppressMessages(library(glmnet))
x <- as.matrix(read.csv("x.csv", header = FALSE)); y <- as.numeric(read.csv("y.csv", header = FALSE)[1, ])
foldid <- as.integer(read.csv("foldid.csv", header = FALSE)[1, ])
lambda <- as.numeric(read.csv("lambda.csv", header = FALSE)[1, ])
cv <- cv.glmnet(x, y, family = "binomial", alpha = 1, type.measure = "auc", foldid = foldid,
                lambda = lambda, standardize = TRUE, thresh = 1e-14, maxit = 1e7)
write.table(rbind(cv$cvm, cv$cvsd, c(cv$lambda.min, cv$lambda.1se, rep(NA, length(lambda) - 2))),
            "cv.csv", sep = ",", row.names = FALSE, col.names = FALSE, na = "NaN")
""")
    cvm, cvsd, chosen = _read(tmp_path / "cv.csv")
    ours = model.cv_auc_.mean(axis=1)
    # One pair of 6 x 14 in one of 5 folds moves a mean AUC by 1/420: the two solvers'
    # tolerances (liblinear 1e-4, glmnet 1e-14 here) order a few near-equal scores
    # differently. At the strongest penalty glmnet keeps a coefficient of ~1e-9 that
    # liblinear sets to 0: a constant score (AUC 0.5) against that feature's own ranking.
    pair = 1 / 420
    worst = np.abs(ours - cvm)[1:].max()
    print(f"inner CV vs cv.glmnet: mean AUCs on the path differ by at most {worst:.2e} "
          f"({worst / pair:.0f} discordant pairs over the 5 folds) below the strongest penalty; lambda.min "
          f"{chosen[0]:.6g} vs featx {1 / (model.C_ * len(y)):.6g}; lambda.1se {chosen[1]:.6g}")
    assert ours[0] == 0.5 and np.all(np.abs(ours - cvm)[1:] <= 3 * pair + 1e-12)
    assert 1 / (model.C_ * len(y)) == pytest.approx(chosen[0], rel=1e-9)
    one_se = LassoLogisticCV(n_Cs=12, cv=5, random_state=3, rule="1se").fit(x, y)
    se = model.cv_auc_.std(axis=1, ddof=1) / np.sqrt(5)
    np.testing.assert_allclose(se[1:], cvsd[1:], rtol=0, atol=3 * pair)
    assert 1 / (one_se.C_ * len(y)) == pytest.approx(chosen[1], rel=1e-9)


def test_delong_equals_proc_roc_test(tmp_path):
    rng = np.random.default_rng(4)
    n = 120
    y = (rng.random(n) < 0.4).astype(int)
    a = y + rng.normal(size=n)
    b = 0.5 * a + y * 0.3 + rng.normal(size=n)
    b[:10] = np.round(b[:10], 1)  # some ties
    _csv(tmp_path / "data.csv", np.column_stack([y, a, b]).T)
    _rscript(tmp_path, """
suppressMessages(library(pROC))
d <- as.matrix(read.csv("data.csv", header = FALSE))
y <- d[1, ]; a <- d[2, ]; b <- d[3, ]
ra <- roc(y, a, levels = c(0, 1), direction = "<", quiet = TRUE)
rb <- roc(y, b, levels = c(0, 1), direction = "<", quiet = TRUE)
t <- roc.test(ra, rb, method = "delong", paired = TRUE)
write.table(t(c(as.numeric(t$statistic), t$p.value, as.numeric(auc(ra)), as.numeric(auc(rb)))),
            "delong.csv", sep = ",", row.names = FALSE, col.names = FALSE)
""")
    z, p, auc_a, auc_b = _read(tmp_path / "delong.csv")[0]
    ours = delong_test(y, a, b)
    worst = max(abs(ours.statistic - z), abs(ours.pvalue - p),
                abs(ours.effect_size - auc_a), abs(ours.estimate - (auc_a - auc_b)))
    print(f"DeLong vs pROC::roc.test: largest difference (z, p, AUCs) {worst:.2e}")
    assert ours.statistic == pytest.approx(z, abs=1e-10)
    assert ours.pvalue == pytest.approx(p, abs=1e-10)
    assert ours.effect_size == pytest.approx(auc_a, abs=1e-12)
