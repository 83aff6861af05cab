"""The house: no import circles, no arrow from a stage to one that comes after it, a README kept for users."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "assistant"
# The stages in the order the data flows, each importing only from itself and the ones before it. `datasets` (the
# held-out splits and mixes) is data both the measuring and the training stage use; training may use measuring.
STAGES = ["base", "index", "ingest", "retrieval", "answering", "facade", "datasets", "evaluation", "training", "front"]
STAGE_OF = {
    "assistant": "base", "assistant.settings": "base", "assistant.text_analysis": "base", "assistant.inference": "base",
    "assistant.index": "index", "assistant.ingest": "ingest", "assistant.retrieval": "retrieval",
    "assistant.answering": "answering", "assistant.facade": "facade", "assistant.datasets": "datasets",
    "assistant.evaluation": "evaluation", "assistant.training": "training",
    "assistant.server": "front", "assistant.cli": "front", "assistant.bench": "front",
}  # fmt: skip
README_LINES = 300


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports() -> dict[str, set[str]]:
    """module -> the project modules it imports, at the top or inside a function alike."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("assistant"):
                for target in [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]:
                    if target in modules and target != name:
                        found.add(target)
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name in modules and alias.name != name}
        graph[name] = found
    return graph


def _stage(module: str) -> str:
    while module not in STAGE_OF:
        module = module.rsplit(".", 1)[0]
    return STAGE_OF[module]


def _related(a: str, b: str) -> bool:
    """A package and a module inside it (its __init__ may name its parts)."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def test_no_module_imports_one_that_imports_it_back():
    graph = _imports()
    circles = set()

    def walk(start: str, module: str, path: list[str]) -> None:
        for target in graph[module]:
            if _related(module, target):
                continue
            if target == start:
                circles.add(" -> ".join([*path, start]))
            elif target > start and target not in path:
                walk(start, target, [*path, target])

    for module in graph:
        walk(module, module, [module])
    assert not circles, sorted(circles)


def test_no_stage_imports_a_later_one():
    upward = [
        f"{module} -> {target}"
        for module, targets in _imports().items()
        for target in targets
        if STAGES.index(_stage(target)) > STAGES.index(_stage(module))
    ]
    assert not upward, sorted(upward)


def test_the_readme_stays_a_page_for_users():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_LINES, f"README.md has {lines} lines; figures' history and lab notes belong in docs/"
