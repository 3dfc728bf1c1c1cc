"""The shape of the house: no import cycles, a core that never reaches into its own plugins, no private
name used across modules, and a public API that loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"harness": ROOT / "harness", "harness.tasks": ROOT / "tasks", "harness.plugins": ROOT / "plugins"}


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _imports(path: Path, module: str, top_level_only: bool) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for each import in ``path``."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                base = ".".join(parent[:len(parent) - node.level + 1] + ([base] if base else []))
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{base}.{n}" in MODULES]
            # ``from harness import samplelog`` imports the submodule harness.samplelog (its package
            # is already being imported: not an edge of its own)
            if len(submodules) < len(names):
                out.append((base, [n for n in names if n not in submodules], node.lineno))
            out += [(f"{base}.{n}", [], node.lineno) for n in submodules]
    return out


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_module_level_imports_have_no_cycle():
    graph = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _, _ in _imports(path, module, top_level_only=True):
            found = _resolve(target)
            if found and found != module and found != "harness":  # the package itself is the lazy API
                graph[module].add(found)
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()

    for node in sorted(graph):
        visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_core_imports_no_built_in_task_or_model_plugin():
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {target}"
                 for module, path in MODULES.items() if not module.startswith(("harness.tasks", "harness.plugins"))
                 for target, _, line in _imports(path, module, top_level_only=False)
                 if target.startswith(("harness.tasks", "harness.plugins"))]
    assert not offenders, offenders


def test_no_private_name_is_used_across_modules():
    offenders = []
    for module, path in MODULES.items():
        for target, names, line in _imports(path, module, top_level_only=False):
            if _resolve(target) in (None, module):
                continue
            offenders += [f"{path.relative_to(ROOT)}:{line}: {target}.{n}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # module._private
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in {m.rpartition(".")[2] for m in MODULES}
                    and node.value.id not in ("self", "cls")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offenders, offenders


def test_the_public_api_is_one_import_and_listing_loads_no_torch(tmp_path):
    code = ("import sys\n"
            "from harness import Model, Task, Probe, Strategy, Request, Response, Sample, Frames, hookimpl\n"
            "from harness import Param, Context, SampleRow, HarnessError, ModelAborted, CapabilityError\n"
            "from harness.cli import main\n"
            "code = main(['list', 'models'])\n"
            "heavy = [m for m in ('torch', 'transformers', 'vllm', 'scipy', 'matplotlib') if m in sys.modules]\n"
            "assert code == 0 and not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tiny-qwen-vl" in done.stdout


def test_an_unknown_public_name_is_an_attribute_error():
    import harness
    with pytest.raises(AttributeError, match="no attribute 'Modle'"):
        harness.Modle  # noqa: B018
