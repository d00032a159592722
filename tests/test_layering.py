"""The leaf packages ``objectives`` and ``learned_optimizers`` import nothing from ``metalearn``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVES = ("objectives", "learned_optimizers")


def metalearn_imports(source: str) -> list[str]:
    """Every ``import metalearn…`` / ``from metalearn… import`` in ``source``, at any depth (deferred ones too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "metalearn"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "metalearn":
            found.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            found += [a for a in args if a.split(".")[0] == "metalearn"]
    return found


def test_the_scan_sees_deferred_imports():
    source = "import jax\n\ndef load(p):\n    from metalearn.rules import load_rule\n    import metalearn.pytree_io\n"
    assert metalearn_imports(source) == ["metalearn.rules", "metalearn.pytree_io"]
    assert metalearn_imports("import importlib\nimportlib.import_module('metalearn.rules')\n") == ["metalearn.rules"]
    assert metalearn_imports("from objectives.base import Objective\nimport metalearning_other\n") == []


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_sources_import_nothing_from_metalearn(leaf):
    files = sorted((ROOT / leaf).rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ROOT)): metalearn_imports(f.read_text()) for f in files}
    assert not {f: names for f, names in bad.items() if names}


def test_importing_the_leaves_loads_no_metalearn_module():
    code = (
        "import sys, objectives, learned_optimizers\n"
        "import objectives.lpg, learned_optimizers.open\n"
        "print(sorted(m for m in sys.modules if m == 'metalearn' or m.startswith('metalearn.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
