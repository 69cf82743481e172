"""The paper's three experiments, each from public data to a report in one call.

* ``crc-tissue``: fine-tune FTX-2048 on NCT-CRC-HE-100K (two steps), embed CRC-VAL-HE-7K
  with FTX-2048 and IMGNET-2048, LinearSVC tissue classification, 50 x 5-fold, report;
* ``luad-expression``: TCGA-LUAD slides -> patient-mean embeddings, immune-gene
  expression targets, SVR, 50 x 5-fold, report;
* ``luad-mutation``: the same embeddings, mutation targets from the MAF, LASSO.

:mod:`~featx.reproduce.plan` says before anything starts what will be downloaded, the
disk it needs and the time it expects; :mod:`~featx.reproduce.stages` records finished
stages so a rerun resumes; :mod:`~featx.reproduce.runs` holds the stages and
:mod:`~featx.reproduce.paper` the experiments made of them;
:mod:`~featx.reproduce.standins` the labelled stand-in embeddings ``--small`` uses
where the data folder has no TCGA slides. ``featx reproduce NAME`` runs them;
:mod:`~featx.reproduce.demo` is ``featx demo``, the same stages on built-in data.
"""

from featx.reproduce.paper import reproduce
from featx.reproduce.plan import EXPERIMENTS, Plan, plan_for

__all__ = ["EXPERIMENTS", "Plan", "plan_for", "reproduce"]
