"""dvc.yaml's code deps cover every project file a stage imports, and nothing scratch.

A stage whose imported module is missing from its deps goes stale without a word when
that module changes; a scratch folder among the outputs makes `dvc status` report a
change after an experiment round trip. DVC's own parser reads the deps here, and the
imports are followed through the source (function-level imports included).
"""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from dvc.repo import Repo

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wpqa", "scraping", "curation", "train", "eval", "commands")


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def imported_names(path: Path) -> list[str]:
    """Every module name `path` imports (and, for `from a import b`, also `a.b`)."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def import_closure(module: str) -> set[Path]:
    """The project's source files that running `python -m module` can import."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name.split(".")[0] not in PACKAGES:
            continue
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent __init__s
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo += imported_names(path)
    return seen


@pytest.fixture(scope="module")
def stages():
    with Repo(str(ROOT)) as repo:
        found = {}
        for stage in repo.index.stages:
            module = re.search(r"python -m ([\w.]+)", stage.cmd or "")
            deps = [Path(dep.fs_path).resolve() for dep in stage.deps]
            outs = [Path(out.fs_path).resolve() for out in stage.outs]
            found[stage.name] = (module.group(1) if module else None, deps, outs)
        return found


def test_every_stage_runs_a_project_module(stages):
    assert {"scrape", "extract", "generate", "validate", "split", "base", "train",
            "eval", "report"} <= set(stages)
    for name, (module, _, _) in stages.items():
        assert module and module_file(module), f"stage {name}: no `python -m` module"


def test_every_imported_file_is_a_dep(stages):
    for name, (module, deps, _) in stages.items():
        files = import_closure(module)
        assert len(files) >= 3, f"stage {name}: the import walk found too little"
        uncovered = sorted(str(f.relative_to(ROOT)) for f in files
                           if not any(f == d or d in f.parents for d in deps))
        assert not uncovered, f"stage {name} imports files outside its deps: {uncovered}"


def test_the_walk_follows_function_level_imports():
    # generate imports its LLM module only inside the functions that need it.
    files = {str(f.relative_to(ROOT)) for f in import_closure("curation.generate")}
    assert "curation/llm_curate.py" in files
    assert "wpqa/params.py" in files


STAGE_PACKAGES = ("scraping", "curation", "train", "eval")


def test_imports_run_one_way(stages):
    """The kernel imports no stage; a stage imports the kernel and itself, never another
    stage (the commands for people sit above and may import any)."""
    for path in sorted(ROOT.joinpath("wpqa").glob("*.py")):
        stages_named = {n.split(".")[0] for n in imported_names(path)} & set(STAGE_PACKAGES + ("commands",))
        assert not stages_named, f"kernel module {path.name} imports {sorted(stages_named)}"
    for name, (module, deps, _) in stages.items():
        own = module.split(".")[0]
        foreign = sorted(str(f.relative_to(ROOT)) for f in import_closure(module)
                         if f.relative_to(ROOT).parts[0] not in ("wpqa", own))
        assert not foreign, f"stage {name} ({module}) imports another stage: {foreign}"
        packages = {d.relative_to(ROOT).parts[0] for d in deps if d.is_dir() and d.parent == ROOT}
        assert packages & set(STAGE_PACKAGES) <= {own}, f"stage {name} depends on {packages}"


def test_checkpoints_are_scratch_not_outputs(stages):
    from wpqa.params import load_params
    folder = load_params(ROOT / "params.yaml").train.checkpoint_dir
    assert folder == "checkpoints/train"
    checkpoints = (ROOT / "checkpoints").resolve()
    for name, (_, deps, outs) in stages.items():
        for path in outs + deps:
            assert path != checkpoints and checkpoints not in path.parents, (
                f"stage {name} tracks {path}: scratch checkpoints make `dvc status` "
                "report a change after an experiment round trip")
    ignored = subprocess.run(["git", "check-ignore", "-q", "checkpoints/train/x"], cwd=ROOT)
    assert ignored.returncode == 0, "checkpoints/ must be ignored by git"
    assert "checkpoints" in (ROOT / ".dvcignore").read_text(encoding="utf-8").split()


def test_every_stage_runs_after_the_params_check():
    import networkx as nx

    with Repo(str(ROOT)) as repo:
        graph = repo.index.graph  # edges run from a stage to the stages it depends on
        by_name = {stage.name: stage for stage in repo.index.stages}
        check = by_name["params"]
        for name, stage in by_name.items():
            if name != "params":
                assert check in nx.descendants(graph, stage), f"stage {name} can run before params"
