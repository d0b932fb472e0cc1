"""Architecture contracts: import layers, MLproject entry points, truth kept apart."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from vru.cli import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vru", "training", "governance", "serving")
# the generator writes the ground truth; evaluation reads it; nothing else may name it
TRUTH_ALLOWED = ("training/generate/run.py", "training/evaluation/")


CONTRACTS = {
    "layers": "Layers: the CLI composes",
    "governance": "Governance: audit and disclosure stand on board",
    "serving": "Serving reaches no audit code",
    "contracts": "Contracts are schemas and primitives",
    "geography": "Geography is reference data",
}
# one deliberate violation of each contract: (module that gains the import, the import line)
VIOLATIONS = {
    "layers": ("serving/metrics.py", "import vru"),
    "governance": ("governance/contracts/levels.py", "import governance.board.verdict"),
    # indirect: serving imports a board module that would now reach shap
    "serving": ("governance/board/verdict.py", "import shap"),
    "contracts": ("governance/contracts/levels.py", "import pandas"),
    "geography": ("governance/geography/london.py", "import governance.board.verdict"),
}


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is not installed"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([lint], cwd=root, capture_output=True, text=True, check=False, env=env)


def test_import_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken" in done.stdout


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_each_import_contract_fails_on_a_violation(contract: str, tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    module, line = VIOLATIONS[contract]
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    report = done.stdout.split("Broken contracts")[-1]
    broken = {name for name, title in CONTRACTS.items() if title in report}
    assert broken == {contract}, done.stdout


def test_every_mlproject_entry_point_is_a_cli_command() -> None:
    spec = yaml.safe_load((ROOT / "MLproject").read_text())
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    for name, entry in spec["entry_points"].items():
        words = entry["command"].split()
        assert words[0] == "vru", name
        assert words[1] in commands, f"entry point {name} runs unknown command {words[1]}"


def _names_truth(path: Path) -> bool:
    """Whether a module has a string naming the truth directory (a path part 'truth')."""
    tree = ast.parse(path.read_text(), filename=str(path))
    strings = [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]
    return any("truth" in s.replace("\\", "/").strip("/").split("/") for s in strings)


def test_only_evaluation_code_names_the_truth_directory() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(TRUTH_ALLOWED):
                continue
            if _names_truth(path):
                offenders.append(rel)
    assert offenders == []


def test_the_truth_check_would_catch_a_reader(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        'import pandas as pd\nPATH = "truth"\ndf = pd.read_parquet(f"data/{PATH}/persons.parquet")\n'
    )
    assert _names_truth(sneaky)
    innocent = tmp_path / "innocent.py"
    innocent.write_text('MESSAGE = "the truth is out there"\n')
    assert not _names_truth(innocent)
