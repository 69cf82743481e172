"""The house plan holds: data flows one way through featx's layers, and TensorFlow stays put.

Read from the source (every import, also those inside functions), so a lazy import
that runs the wrong way fails here too. See featx/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "featx"

#: The layers, lowest first. A module may import its own layer and the ones below it.
LAYERS = ("", "downloads", "wsi", "stain", "extractors", "embed", "targets", "evaluation", "slidescore",
          "report", "reproduce", "cli")
#: The only modules that may import TensorFlow or Keras when they are imported.
MODEL_MODULES = {"featx.slidescore.unet", "featx.slidescore.end_to_end"}
TF_PACKAGES = ("tensorflow", "keras", "tf_keras")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    if module == "featx.__main__":
        return LAYERS.index("cli")
    sub = parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""
    return LAYERS.index(sub)


def imports(path: Path) -> list[tuple[str, int, bool, list[str]]]:
    """(imported featx module, line, at module level, names taken) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        at_top = id(node) in top
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, at_top, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            if node.module.startswith("featx"):
                submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in MODULES]
                found += [(m, node.lineno, at_top, []) for m in submodules]
                plain = [n for n in names if f"{node.module}.{n}" not in MODULES]
                if plain or not submodules:
                    found.append((node.module, node.lineno, at_top, plain))
            else:
                found.append((node.module, node.lineno, at_top, names))
    return found


def featx_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for target, _, _, _ in imports(path):
            if target.startswith("featx") and target in MODULES and target != name:
                edges[name].add(target)
    return edges


def test_the_layers_are_the_packages_there_are() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages == set(LAYERS) - {""}


def test_no_module_imports_a_higher_layer() -> None:
    wrong = []
    for name, path in MODULES.items():
        for target, line, _, _ in imports(path):
            if target.startswith("featx.") and layer(target) > layer(name):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {name} "
                             f"({LAYERS[layer(name)] or 'root'}) imports {target} "
                             f"({LAYERS[layer(target)]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    edges = featx_edges()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            # A package's __init__ re-exports its modules: an edge back to it is not a loop
            # in what the code needs, as long as the module does not import its own package.
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for start in sorted(MODULES):
        if start not in state:
            visit(start, [start])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_taken_from_another_module() -> None:
    """``_name`` stays in its module; a subpackage's ``_module`` stays in its subpackage.

    featx's own root helpers (``featx._io``, ``featx._validate``, ...) serve every layer.
    """
    wrong = []
    for name, path in MODULES.items():
        for target, line, _, names in imports(path):
            if not target.startswith("featx"):
                continue
            parent, _, last = target.rpartition(".")
            if last.startswith("_") and parent != "featx" and not name.startswith(parent):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {target}")
            wrong += [f"{path.relative_to(ROOT.parent)}:{line}: {target}.{n}" for n in names
                      if n.startswith("_") and not n.startswith("__")]
    assert not wrong, "private names used across modules:\n" + "\n".join(wrong)


def test_tensorflow_is_imported_at_module_level_only_by_model_modules() -> None:
    wrong = [f"{path.relative_to(ROOT.parent)}:{line}: {target}"
             for name, path in MODULES.items() if name not in MODEL_MODULES
             for target, line, at_top, _ in imports(path)
             if at_top and target.split(".")[0] in TF_PACKAGES]
    assert not wrong, "import TensorFlow inside the function that builds or runs a model:\n" + (
        "\n".join(wrong))


@pytest.mark.slow
def test_importing_featx_does_not_load_tensorflow() -> None:
    """Every module but the model modules imports without TensorFlow (checked in a fresh process)."""
    names = sorted(set(MODULES) - MODEL_MODULES - {"featx.__main__"})
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            f"loaded = [m for m in {TF_PACKAGES!r} if m in sys.modules]\n"
            "sys.exit(', '.join(loaded) or 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_layering_rules_catch_a_wrong_import(tmp_path: Path) -> None:
    """The checks above can fail: a wsi module importing the store is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from featx.embed.store import read_store\nimport tensorflow\n")
    found = imports(bad)
    assert ("featx.embed.store", 1, True, ["read_store"]) in found
    assert layer("featx.embed.store") > layer("featx.wsi.tiling")
    assert ("tensorflow", 2, True, []) in found


def test_downloads_sit_below_every_layer_that_uses_them() -> None:
    """fetch, gdc and the manifests import nothing above the root helpers; embed,
    reproduce and the command line use them."""
    downloads = [m for m in MODULES if m.startswith("featx.downloads")]
    assert {"featx.downloads.fetch", "featx.downloads.gdc", "featx.downloads.manifests"} <= set(downloads)
    edges = featx_edges()
    for module in downloads:
        assert all(layer(t) <= layer(module) for t in edges[module]), (module, edges[module])
    users = {m for m, targets in edges.items() if any(t.startswith("featx.downloads") for t in targets)}
    assert {"featx.reproduce.runs", "featx.cli.fetch", "featx.cli.gdc"} <= users, users
    assert all(layer(u) >= layer("featx.downloads.fetch") for u in users)
