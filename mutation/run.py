"""Mutation testing of the control modules with mutmut 3 (``make mutation``).

A control is only as good as the test that notices it being broken: mutmut changes one thing
at a time in a control (``>=`` to ``>``, ``max`` to ``min``, a dropped ``raise``) and runs the
tests that guard it; a change that no test notices ("survived") is a hole in the suite.

Each module of ``mutation/modules.toml`` runs on its own, in a fresh scratch copy of the
project under ``.mutation/<name>/`` (git-ignored; the work tree is never written), with only
that module mutated and only its guarding tests selected. A summary per module (killed,
survived, timeout, no tests, score) is printed and written to ``mutation/results.json``
(git-ignored), with the surviving mutants' names; ``.mutation/<name>/survivors.txt`` holds
their diffs.

The score counts a mutant as killed when a test failed on it. A timeout is counted apart and
not as killed, unless it is listed in the module's ``infinite_loops`` (read and found to loop
forever, e.g. a write loop that never advances): mutmut's timeout also fires on a test that
is merely slow, which proves nothing. ``no tests``: no selected test called the
mutated function (a gap in the selection, counted as not killed).

Usage: ``python mutation/run.py [NAME ...]`` (all modules when no name is given).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
RESULTS = ROOT / "mutation" / "results.json"
#: What a scratch copy links to (the packages, the tests, and files the tests read).
LINKED = ["governance", "serving", "training", "vru", "tests", "configs", "scripts", "docs"]
#: Copied into mutants/ beside the packages (mutmut copies tests/ and pyproject.toml itself).
ALSO_COPY = ["configs", "scripts", "docs", "MLproject", "python_env.yaml", "README.md"]
#: mutmut's exit codes, grouped as the summary counts them (mutmut.stats.status_by_exit_code).
STATUS = {1: "killed", 3: "killed", 37: "killed", 0: "survived", 5: "no tests", 33: "no tests"}
STATUS.update(dict.fromkeys((36, 24, -24, 152, 255), "timeout"))


@dataclass
class Module:
    """One control module: the files mutated, the mutant names kept, the guarding tests."""

    name: str
    files: list[str]
    tests: list[str]
    functions: list[str] = field(default_factory=list)
    infinite_loops: list[str] = field(default_factory=list)
    #: extra pytest arguments for this module's runs (e.g. ``["-m", "not slow"]``)
    pytest_args: list[str] = field(default_factory=list)


def load_modules(path: Path) -> tuple[list[Module], int]:
    """The modules of ``modules.toml`` and how many mutmut workers to run at once."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    modules = [Module(**entry) for entry in data["module"]]
    return modules, int(data.get("max_children", 1))


def prepare(module: Module) -> Path:
    """A fresh scratch copy for ``module``: links to the sources, a pyproject naming it."""
    work = SCRATCH / module.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in [*LINKED, "MLproject", "python_env.yaml", "README.md"]:
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name)
    settings = {
        "source_paths": ["governance", "serving", "training", "vru"],
        "only_mutate": module.files,
        "also_copy": ALSO_COPY,
        "pytest_add_cli_args": [
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-q",
            *module.pytest_args,
        ],
        "pytest_add_cli_args_test_selection": module.tests,
        "use_git_change_detection": False,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(text + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n")
    return work


def summarise(module: Module, work: Path, seconds: float) -> dict[str, object]:
    """Count the statuses of the module's mutants from mutmut's meta files."""
    counts = {"killed": 0, "survived": 0, "timeout": 0, "no tests": 0, "other": 0}
    survivors: list[str] = []
    for source in module.files:
        meta = json.loads((work / "mutants" / f"{source}.meta").read_text(encoding="utf-8"))
        for name, code in meta["exit_code_by_key"].items():
            if module.functions and not any(_matches(name, g) for g in module.functions):
                continue
            status = STATUS.get(code, "other")
            if status == "timeout" and name in module.infinite_loops:
                status = "killed"
            counts[status] += 1
            if status != "killed":
                survivors.append(f"{name} ({status})")
    total = sum(counts.values())
    return {
        **counts,
        "total": total,
        "score": round(100 * counts["killed"] / total, 1) if total else None,
        "seconds": round(seconds),
        "files": module.files,
        "tests": module.tests,
        "not_killed": sorted(survivors),
    }


def _matches(name: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(name, pattern)


def run_module(module: Module, max_children: int) -> dict[str, object]:
    """Run mutmut on one module in its scratch copy; its summary."""
    work = prepare(module)
    mutmut = str(Path(sys.executable).parent / "mutmut")
    started = time.monotonic()
    log = (work / "mutmut.log").open("w")
    command = [mutmut, "run", "--max-children", str(max_children), *module.functions]
    done = subprocess.run(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed on {module.name}: see {work / 'mutmut.log'}")
    summary = summarise(module, work, seconds)
    with (work / "survivors.txt").open("w") as out:
        for entry in summary["not_killed"]:  # type: ignore[attr-defined]
            name = str(entry).split(" ")[0]
            shown = subprocess.run(
                [mutmut, "show", name], cwd=work, capture_output=True, text=True, check=False
            )
            out.write(shown.stdout + "\n")
    return summary


def main(argv: list[str]) -> int:
    """Run the named modules (all by default), print and write the summary."""
    modules, max_children = load_modules(ROOT / "mutation" / "modules.toml")
    chosen = [m for m in modules if not argv or m.name in argv]
    unknown = set(argv) - {m.name for m in modules}
    if unknown:
        raise SystemExit(
            f"unknown module(s) {sorted(unknown)}; modules.toml names {[m.name for m in modules]}"
        )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for module in chosen:
        print(f"mutation: {module.name} ({', '.join(module.files)}) ...", flush=True)
        results[module.name] = summary = run_module(module, max_children)
        print(
            f"  {summary['killed']}/{summary['total']} killed ({summary['score']}%), "
            f"{summary['survived']} survived, {summary['timeout']} timeout, "
            f"{summary['no tests']} no tests, {summary['seconds']} s",
            flush=True,
        )
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\n{'module':<22}{'killed':>8}{'survived':>10}{'timeout':>9}{'no tests':>10}{'score':>8}"
    )
    for name, s in results.items():
        print(
            f"{name:<22}{s['killed']:>8}{s['survived']:>10}{s['timeout']:>9}"
            f"{s['no tests']:>10}{s['score']!s:>7}%"
        )
    print(
        f"written to {RESULTS.relative_to(ROOT)}; survivors' diffs in .mutation/<module>/survivors.txt"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
