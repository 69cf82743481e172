"""Gene lists: from a file, or built into featx by name.

A gene list file holds one gene symbol per line (or a table whose first column holds
them); blank lines and lines starting with ``#`` are ignored. The built-in sets are
package data in ``featx/targets/gene_sets/``, each file saying in its header where it
comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featx._io import file_sha256
from featx.errors import DataError, DataNotFoundError

_GENE_SET_DIR = Path(__file__).resolve().parent / "gene_sets"
#: Built-in gene sets by name (``--genes immune``) and their files.
BUILTIN_GENE_SETS = {p.stem: p for p in sorted(_GENE_SET_DIR.glob("*.tsv"))}
_HEADERS = {"gene", "genes", "symbol", "gene_symbol", "hugo_symbol", "genesymbol"}


def _symbols(lines: list[str]) -> list[str]:
    genes = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        first = text.replace(",", "\t").split("\t")[0].strip()
        if first:
            genes.append(first)
    if genes and genes[0].lower() in _HEADERS:
        genes = genes[1:]
    return list(dict.fromkeys(genes))  # keep order, drop repeats


def read_gene_list(source: str | Path) -> tuple[list[str], dict[str, Any]]:
    """The genes of a list file or a built-in set, and where they came from.

    Parameters
    ----------
    source : str or Path
        A built-in set's name (one of :data:`BUILTIN_GENE_SETS`) or a file.

    Returns
    -------
    genes : list of str
        In file order, each once.
    record : dict
        For provenance: the name or path and the file's sha256.

    Raises
    ------
    DataNotFoundError
        Neither a built-in name nor a file.
    DataError
        The file names no gene.
    """
    name = str(source)
    path = BUILTIN_GENE_SETS.get(name, Path(source))
    if not path.is_file():
        raise DataNotFoundError(f"gene list {name!r}", "Pass a file with one gene symbol per "
                                f"line, or a built-in set: {', '.join(BUILTIN_GENE_SETS)}.")
    genes = _symbols(path.read_text(encoding="utf-8").splitlines())
    if not genes:
        raise DataError(f"gene list {path}", "no gene symbols in it",
                        "Put one gene symbol per line")
    record = {"gene_list": name if name in BUILTIN_GENE_SETS else str(path),
              "gene_list_sha256": file_sha256(path), "genes_asked": len(genes)}
    return genes, record
