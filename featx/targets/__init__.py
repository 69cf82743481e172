"""Target tables from public TCGA data: patient x gene expression and mutation matrices.

* :mod:`~featx.targets.expression`: RNA-seq (a Firehose RSEM matrix or GDC STAR-counts
  files) to a patient x gene table, primary tumours only, aliquots averaged, log2(x + 1);
* :mod:`~featx.targets.mutations`: a MAF to a patient x gene 0/1 table of non-silent
  mutations, among the patients that were sequenced;
* :mod:`~featx.targets.gene_sets`: gene lists from a file or built in (``immune``);
* :mod:`~featx.targets.samples`: which TCGA samples are kept, and what was dropped;
* :mod:`~featx.targets.table`: a target table and its provenance, written side by side.

``featx targets expression`` and ``featx targets mutations`` run them; ``featx evaluate
-e expression|mutation`` reads what they write.
"""

from featx.targets.expression import expression_targets, read_rsem_matrix, read_star_counts
from featx.targets.gene_sets import BUILTIN_GENE_SETS, read_gene_list
from featx.targets.mutations import NON_SILENT, mutation_targets, read_maf
from featx.targets.table import TargetTable

__all__ = ["BUILTIN_GENE_SETS", "NON_SILENT", "TargetTable", "expression_targets",
           "mutation_targets", "read_gene_list", "read_maf", "read_rsem_matrix",
           "read_star_counts"]
