"""The model stages: ``vru train``, ``vru compare`` and ``vru audit``.

``train`` fits the model on the feature table and registers the candidate; ``compare`` sets
two registered versions side by side; ``audit`` judges a registered version (or, with
``--table``, any scored table) for the ethics board. lightgbm, shap and mlflow load when
these commands run, so ``vru --help`` starts quickly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from governance.contracts.config import load_config
from governance.contracts.errors import ConfigError, ExtractError
from training.model.config import ModelConfig
from vru.console import (
    DEFAULT_MODEL_NAME,
    DataOpt,
    GovernanceOpt,
    ModelOpt,
    PipelineConfigOpt,
    QuietOpt,
    SeedOpt,
    default_config,
    default_tracking,
    err,
    governance_config,
    pipeline_config,
    stage,
    steps,
)

if TYPE_CHECKING:
    from governance.audit.version import AuditRecord
    from governance.contracts.audit_document import ScoredTableAudit
    from governance.contracts.settings import GovernanceConfig
    from training.model.compare import Comparison

__all__ = ["DEFAULT_MODEL_CARD", "DEFAULT_MODEL_CONFIG", "audit", "compare", "train"]

DEFAULT_MODEL_CONFIG = Path("configs/model.yaml")
DEFAULT_MODEL_CARD = Path("configs/model_card.yaml")


def train(
    config: PipelineConfigOpt = None,
    model_config: Annotated[
        Path | None,
        typer.Option("--model-config", "-m", help="Model YAML (default: configs/model.yaml)."),
    ] = None,
    data: DataOpt = None,
    seed: SeedOpt = None,
    tune: Annotated[
        int | None, typer.Option("--tune", help="Optuna trials before the final fit.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train LightGBM and the baseline on earlier as-of dates; register the candidate model."""
    with stage(quiet):
        cfg = pipeline_config(config, {"seed": seed})
        path = default_config(model_config, DEFAULT_MODEL_CONFIG)
        model_cfg = load_config(path, ModelConfig, {"tune.trials": tune})
        default_tracking()
        from training.model.train import CANDIDATE, run_train

        result = run_train(cfg, model_cfg, data or cfg.data_dir)
        for shortfall in result.shortfalls:  # shown even with --quiet: a worse model moved
            err.print(
                f"[bold yellow]warning:[/] version {result.version}, now '{CANDIDATE}', is worse "
                f"than version {shortfall.version} (@{shortfall.alias}): "
                f"{shortfall.describe()}; tagged candidate_worse_than on version "
                f"{result.version}",
                highlight=False,
            )
        if not quiet:
            m = result.metrics
            err.print(
                f"registered {result.model_name} version {result.version} as '{CANDIDATE}' "
                f"(run {result.run_id})",
                highlight=False,
            )
            err.print(
                f"test ROC AUC {m['test_roc_auc']:.3f} (logistic-regression baseline {m['baseline_test_roc_auc']:.3f}), "
                f"PR AUC {m['test_pr_auc']:.3f} (baseline {m['baseline_test_pr_auc']:.3f}), "
                f"ECE {m['test_ece']:.4f}, recall in the top {model_cfg.top_k_percent:g}% "
                f"{m['test_recall_at_top_k']:.3f}",
                highlight=False,
            )
            refit = result.refit
            err.print(
                "serves the evaluated model (refit disabled)"
                if refit is None
                else f"serves the same model refit on {', '.join(refit.as_of_dates)} "
                f"({refit.rows['fit']:,} rows; {refit.persons['audit']:,} young people kept out "
                "to audit it: `vru audit` judges it on them)",
                highlight=False,
            )


# -- vru compare -----------------------------------------------------------------------------


def compare(
    a: Annotated[str, typer.Argument(help="A version number or alias, e.g. champion.")],
    b: Annotated[str, typer.Argument(help="The other, e.g. candidate.")],
    model: ModelOpt = DEFAULT_MODEL_NAME,
    model_config: Annotated[
        Path | None,
        typer.Option("--model-config", "-m", help="Its headline figures come first."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Two registered versions side by side: figures, differing config, data, code, audit.

    Read from the registry and the versions' training runs; the difference is B − A.
    """
    with stage(quiet=True):
        path = default_config(model_config, DEFAULT_MODEL_CONFIG)
        headline = load_config(path, ModelConfig, {}).headline
        default_tracking()
        import mlflow

        from training.model.compare import compare_versions

        found = compare_versions(mlflow.MlflowClient(), model, a, b, headline)
    if as_json:
        typer.echo(json.dumps(found.to_json(), indent=2))
    else:
        _print_comparison(found)


def _print_comparison(found: Comparison) -> None:
    """Three tables on stdout: versions, metrics with their difference, differing params."""
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False)
    a, b = found.a, found.b
    versions = Table("", f"A: {a.ref}", f"B: {b.ref}", title=f"{found.model}")
    for label, field in _FACT_ROWS:
        versions.add_row(label, str(getattr(a, field)), str(getattr(b, field)))
    for key in sorted(a.audit.keys() | b.audit.keys()):
        versions.add_row(key, a.audit.get(key, "not audited"), b.audit.get(key, "not audited"))
    if not a.audit and not b.audit:
        versions.add_row("audit", "not audited", "not audited")
    out.print(versions)
    metrics = Table("metric", "A", "B", "B − A", title="figures (headline first)")
    for name, x, y in found.metrics:
        diff = "" if x is None or y is None else f"{y - x:+.4f}"
        metrics.add_row(name, _figure(x), _figure(y), diff)
    out.print(metrics)
    if found.params:
        params = Table("parameter", "A", "B", title="config that differs")
        for key, left, right in found.params:
            params.add_row(key, left or "—", right or "—")
        out.print(params)
    else:
        out.print("same config (every parameter equal)")


_FACT_ROWS = (
    ("version", "version"),
    ("run", "run_name"),
    ("run id", "run_id"),
    ("test as-of date", "test_as_of"),
    ("features sha256", "features_sha256"),
    ("git commit", "git_commit"),
    ("uncommitted changes", "git_dirty"),
)


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


# -- vru audit -------------------------------------------------------------------------------

_VersionOpt = Annotated[
    str | None, typer.Option(help="Model version or alias (default: the 'candidate' alias).")
]
_ModelCardOpt = Annotated[
    Path | None, typer.Option(help="Model card YAML (default: configs/model_card.yaml).")
]
_TableOpt = Annotated[
    Path | None, typer.Option("--table", help="Instead: audit a scored table (CSV or Parquet).")
]
_LabelOpt = Annotated[
    str | None, typer.Option(help="--table: column with the observed outcome (0/1).")
]
_ScoreOpt = Annotated[str | None, typer.Option(help="--table: column with the tool's score.")]
_SensitiveOpt = Annotated[
    str | None, typer.Option(help="--table: comma-separated group columns, e.g. sex,ethnicity.")
]
_ThresholdOpt = Annotated[
    float | None, typer.Option(help="--table: a positive prediction is score >= this.")
]
_TopFractionOpt = Annotated[
    float | None, typer.Option(help="--table: or the top fraction of scores is positive.")
]
_OutOpt = Annotated[
    Path | None,
    typer.Option(
        help="Output directory (default: audit-reports/<model>-v<version>/, or "
        "audit-<table name>/ for --table)."
    ),
]
_MinGroupSizeOpt = Annotated[
    int | None, typer.Option(help="Smaller groups are flagged, not judged (default: gates).")
]
_PermutationsOpt = Annotated[
    int | None,
    typer.Option(
        min=100,
        help="Replicates of the permutation null of each equalized-odds gap (default: config).",
    ),
]


def audit(
    model: ModelOpt = DEFAULT_MODEL_NAME,
    version: _VersionOpt = None,
    data: DataOpt = None,
    governance: GovernanceOpt = None,
    model_card: _ModelCardOpt = None,
    table: _TableOpt = None,
    label: _LabelOpt = None,
    score: _ScoreOpt = None,
    sensitive: _SensitiveOpt = None,
    threshold: _ThresholdOpt = None,
    top_fraction: _TopFractionOpt = None,
    out: _OutOpt = None,
    min_group_size: _MinGroupSizeOpt = None,
    permutations: _PermutationsOpt = None,
    seed: SeedOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Audit a model version for the ethics board: one HTML report and audit.json.

    Fairness by sex, ethnicity, deprivation and their intersection (at the model's top k%,
    across thresholds, calibration per group, exact intervals and permutation p-values),
    recorded versus true
    outcomes and linkage quality where known, mitigation options, SHAP explanations, a proxy
    check, drift against the champion, the gates and the model card. The report's SHA-256 is
    tagged on the version; the board reviews exactly that report.

    With --table: the fairness sections for any scored table (an existing tool's scores).
    """
    with stage(quiet):
        gov = governance_config(governance)
        if table is not None:
            _audit_table(
                table,
                label=label,
                score=score,
                sensitive=sensitive,
                threshold=threshold,
                top_fraction=top_fraction,
                out=out,
                min_group_size=min_group_size or gov.gates.min_group_size,
                withhold_below=gov.audit.withhold_below,
                permutations=permutations or gov.audit.permutations,
                seed=seed if seed is not None else 0,
                quiet=quiet,
            )
            return
        cfg = pipeline_config(None, {"seed": seed})
        data_dir = data or cfg.data_dir
        if permutations is not None or min_group_size is not None:
            gov = _with_overrides(gov, permutations=permutations, min_group_size=min_group_size)
        default_tracking()
        record = _audit_registered(
            gov,
            model_card or DEFAULT_MODEL_CARD,
            data_dir,
            model=model,
            version=version,
            out=out,
            seed=cfg.seed,
            quiet=quiet,
        )
        if not quiet:
            _print_audit(record, model)


def _with_overrides(
    gov: GovernanceConfig, *, permutations: int | None, min_group_size: int | None
) -> GovernanceConfig:
    """The governance config with the command line's permutations and minimum group size."""
    return gov.model_copy(
        update={
            "audit": gov.audit.model_copy(
                update={"permutations": permutations or gov.audit.permutations}
            ),
            "gates": gov.gates.model_copy(
                update={"min_group_size": min_group_size or gov.gates.min_group_size}
            ),
        }
    )


def _audit_registered(
    gov: GovernanceConfig,
    card_path: Path,
    data_dir: Path,
    *,
    model: str,
    version: str | None,
    out: Path | None,
    seed: int,
    quiet: bool,
) -> AuditRecord:
    """Audit a registered version, with the truth and linkage sections where data has them."""
    from governance.audit.model_card import load_model_card
    from governance.audit.version import audit_version
    from governance.board.registry import Registry
    from training.evaluation.recording import linkage_by_group

    with steps(quiet) as step:
        return audit_version(
            Registry(),
            gov,
            load_model_card(card_path),
            data_dir,
            name=model,
            version=version,
            out=out,
            seed=seed,
            truth=_truth(data_dir, gov, seed),
            linkage=linkage_by_group(data_dir),
            progress=step,
            area_truth=_area_truth(data_dir, gov),
        )


def _truth(
    data_dir: Path, gov: GovernanceConfig, seed: int = 0
) -> Callable[[dict[str, Any]], Callable[[Any], dict[str, Any]]]:
    """Recorded against true outcomes, for the label the features manifest names.

    The audit calls this with the manifest, and the result with the test rows; only the
    evaluation code of ``training`` reads the truth.
    """
    from training.evaluation.recording import truth_comparison

    def truth(manifest: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
        label_cfg = manifest["label"]
        # agency-derived counts and flags: the inputs whose recording the truth can audit
        inputs = [
            f["name"]
            for f in manifest.get("features", [])
            if f.get("source") in _AUDITED_SOURCES and f.get("aggregate") in ("count", "flag")
        ]
        return lambda rows: truth_comparison(
            data_dir,
            rows,
            label_months=int(label_cfg["months"]),
            outcome=label_cfg["outcome"],
            group_columns=list(gov.audit.sensitive),
            min_group_size=gov.gates.min_group_size,
            min_outcomes=gov.gates.min_outcomes,
            confidence=gov.gates.gate_confidence,
            input_columns=inputs,
            replicates=gov.audit.recording_replicates,
            seed=seed,
            reference_groups=gov.audit.reference_groups,
        )

    return truth


def _area_truth(
    data_dir: Path, gov: GovernanceConfig
) -> Callable[[dict[str, Any]], Callable[[Any, list[str]], dict[str, Any]]]:
    """True outcomes by area for the area-level audit; only evaluation code reads the truth."""
    from training.evaluation.area_truth import area_truth

    def by_area(manifest: dict[str, Any]) -> Callable[[Any, list[str]], dict[str, Any]]:
        label_cfg = manifest["label"]
        return lambda rows, levels: area_truth(
            data_dir,
            rows,
            levels,
            label_months=int(label_cfg["months"]),
            outcome=label_cfg["outcome"],
            group_columns=list(gov.audit.sensitive),
        )

    return by_area


#: Sources whose inputs the recording audit compares with the truth (police first: the
#: generator's recording bias lives there).
_AUDITED_SOURCES = ("police", "health", "social_care")


def _print_audit(record: AuditRecord, model: str) -> None:
    """Each gate, passed or failed, and where the report went."""
    document = record.outcome.audit
    for gate in document.gates:
        value = "not measured" if gate.value is None else f"{gate.value:.4f}"
        mark = "[green]pass[/]" if gate.passed else "[red]FAIL[/]"
        err.print(f"{mark}  {gate.name}: {value} ({gate.direction} {gate.limit:g})")
    err.print(
        f"audited {model} version {record.info.version} on {document.data.rows:,} "
        f"test rows; report {record.directory / 'report.html'} "
        f"(sha256 {record.outcome.sha256[:12]}…), also logged to MLflow",
        highlight=False,
    )


def _audit_table(
    table: Path,
    *,
    label: str | None,
    score: str | None,
    sensitive: str | None,
    threshold: float | None,
    top_fraction: float | None,
    out: Path | None,
    min_group_size: int,
    withhold_below: int,
    permutations: int,
    seed: int,
    quiet: bool,
) -> None:
    """The fairness sections for a scored table; writes audit.json."""
    from governance.audit.fairness import audit_scored_table
    from governance.contracts.audit_document import ScoredTableAudit
    from governance.contracts.settings import AuditSettings
    from training.storage import write_json_atomic

    missing = [
        f"--{n}" for n, v in (("label", label), ("score", score), ("sensitive", sensitive)) if not v
    ]
    if missing:
        raise ConfigError(f"--table needs {', '.join(missing)} (the columns to audit)")
    assert label is not None and score is not None and sensitive is not None
    frame = _read_table(table)
    columns = [c.strip() for c in sensitive.split(",") if c.strip()]
    # each pair of the columns and then all of them, as the model audit's default
    settings = AuditSettings(sensitive=tuple(columns))
    result = audit_scored_table(
        frame,
        label=label,
        score=score,
        sensitive=columns,
        intersections=settings.chosen_intersections,
        threshold=threshold,
        top_fraction=top_fraction,
        min_group_size=min_group_size,
        permutations=permutations,
        seed=seed,
        withhold_below=withhold_below,
    )
    result["table"] = {"path": str(table), "label": label, "score": score}
    document = ScoredTableAudit.model_validate(result)
    directory = out or Path(f"audit-{table.stem}")
    directory.mkdir(parents=True, exist_ok=True)
    write_json_atomic(directory / "audit.json", result)
    if not quiet:
        _print_table_audit(document, directory)


def _print_table_audit(document: ScoredTableAudit, directory: Path) -> None:
    """Per group column: the reference group, the equalized odds gap, groups too small."""
    for dimension, summary in document.summary.items():
        eod = summary.equalized_odds_difference
        p_value = summary.equalized_odds_p_value
        small = [g for g, v in document.by[dimension].items() if v.too_small]
        err.print(
            f"{dimension}: reference {summary.reference}, equalized odds difference "
            f"{'n/a' if eod is None else f'{eod:.3f}'}"
            + ("" if p_value is None else f" (permutation p = {p_value:.3f})")
            + (f"; too small to judge: {', '.join(small)}" if small else ""),
            highlight=False,
        )
    err.print(f"audit of {document.rows:,} rows in {directory / 'audit.json'}")


def _read_table(path: Path) -> Any:
    """A scored table from CSV or Parquet (by suffix); one clear error if it cannot be read."""
    import pandas as pd

    if not path.is_file():
        raise ExtractError(f"{path}: table not found")
    kind = "Parquet" if path.suffix.lower() == ".parquet" else "CSV"
    try:
        return pd.read_parquet(path) if kind == "Parquet" else pd.read_csv(path)
    except (ValueError, OSError) as error:
        raise ExtractError(
            f"{path}: cannot be read as {kind} ({error.__class__.__name__})"
        ) from None
