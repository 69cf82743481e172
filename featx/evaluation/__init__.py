"""From embeddings to answers: aligned tables, identical folds, three experiments, paired tests.

::

    {extractor: features} + targets --(alignment)--> the same rows, in the same order
        --(folds)--> repeated K-fold splits drawn once, from the labels alone
        --(tissue | expression | mutation)--> tidy score tables (ExperimentResult)
        --(comparisons, paired_tests)--> per-target and across-target tests
        --(multiway)--> every pair of 3+ extractors, corrected across pairs, and ranks

:func:`run_evaluation` does all of it and writes the tables (``featx evaluate``).
"""

from featx.evaluation.alignment import align, mean_by_patient, patient_ids
from featx.evaluation.comparisons import compare_extractors, compare_over_targets, count_better
from featx.evaluation.embedding_tables import embedding_sources, read_embeddings
from featx.evaluation.experiments import Evaluation, evaluate, read_targets, run_evaluation
from featx.evaluation.expression import regress_expression
from featx.evaluation.folds import RepeatedFolds, make_folds
from featx.evaluation.lasso import LassoLogisticCV
from featx.evaluation.linear_svm import BatchedLinearSVC
from featx.evaluation.multiway import MultiwayComparison, compare_many
from featx.evaluation.mutation import predict_mutations
from featx.evaluation.paired_tests import (
    ComparisonResult,
    corrected_resampled_ttest,
    delong_from_predictions,
    delong_test,
    paired_ttest,
    wilcoxon_test,
)
from featx.evaluation.results import EXPERIMENT_METRICS, EXPERIMENTS, ExperimentResult
from featx.evaluation.tissue import classify_tissue

__all__ = ["EXPERIMENTS", "EXPERIMENT_METRICS", "BatchedLinearSVC", "ComparisonResult",
           "Evaluation", "ExperimentResult", "LassoLogisticCV", "MultiwayComparison",
           "RepeatedFolds", "align", "classify_tissue", "compare_extractors", "compare_many",
           "compare_over_targets", "corrected_resampled_ttest", "count_better",
           "delong_from_predictions", "delong_test", "embedding_sources", "evaluate",
           "make_folds", "mean_by_patient", "paired_ttest", "patient_ids", "predict_mutations",
           "read_embeddings", "read_targets", "regress_expression", "run_evaluation",
           "wilcoxon_test"]
