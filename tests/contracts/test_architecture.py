"""Architecture contracts: import layers, MLproject entry points, truth kept apart."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from typer.main import get_command

from vru.cli import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vru", "training", "governance", "serving")
# the generator writes the ground truth; evaluation reads it; nothing else may name it
TRUTH_ALLOWED = ("training/generate/run.py", "training/evaluation/")


def test_import_layers_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is not installed"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken" in done.stdout


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
