"""``vru evaluate --programme NAME``: did a prevention programme work? Area level only.

Builds the programme's ward x period panel (:mod:`training.evaluation.programme_panel`), runs
the estimators and the placebo checks (:mod:`training.evaluation.programme_estimators`), draws
the event-study chart, writes ``result.json`` and a plain-words report (``report.md`` and
``report.html``) for the board and planners, and logs them to an MLflow run.

What is published is protected by the release's disclosure rules (``configs/disclosure.yaml``):
counts are rounded to ``rounding_base`` and any below ``min_count`` withheld, an event-study
point resting on fewer than ``min_count`` recorded outcomes is withheld, and the evaluation
refuses a programme whose treated wards hold fewer than ``min_count`` young people. No ward is
named; no person, record or score appears anywhere.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.contracts.errors import VruError
from governance.disclosure import DisclosureConfig
from training.config import PipelineConfig
from training.evaluation.programme_estimators import (
    EventPoint,
    ProgrammeEstimate,
    did2s_estimate,
    false_start_placebo,
    naive_estimate,
    poisson_imputation_estimate,
    synthetic_control_estimate,
)
from training.evaluation.programme_panel import NEVER, build_panel
from training.generate.programmes import plan_programmes

__all__ = ["EvaluationResult", "ProgrammeError", "protect_count", "run_evaluate"]

EXPERIMENT = "vru-programmes"


class ProgrammeError(VruError, ValueError):
    """The programme asked for cannot be evaluated (unknown, or too small to publish)."""


@dataclass(frozen=True)
class EvaluationResult:
    """What ``vru evaluate`` publishes: area-level figures only, already protected."""

    programme: str
    treated_wards: int
    comparison_wards: int
    waves: list[str]  # start dates
    periods: int
    recorded_treated_before: int | None  # rounded; None when below min_count
    recorded_treated_after: int | None
    estimates: list[ProgrammeEstimate]
    placebos: list[ProgrammeEstimate]
    event_study: list[EventPoint]
    withheld_event_points: int
    out_dir: Path
    selection_buffer: int = 1
    run_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The result as JSON-ready data (``result.json``)."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        cleaned: dict[str, Any] = _finite(data)
        return cleaned


def _finite(value: Any) -> Any:
    """JSON-ready: a non-finite number becomes null, a path a string."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def protect_count(count: int, rules: DisclosureConfig) -> int | None:
    """A published count: withheld (None) below ``min_count``, else rounded to ``rounding_base``."""
    if count < rules.min_count:
        return None
    base = rules.rounding_base
    return int((count + base // 2) // base * base)


def _find(config: PipelineConfig, programme: str) -> int:
    names = [p.name for p in config.generate.programmes]
    if programme not in names:
        raise ProgrammeError(
            f"--programme: no programme named '{programme}' in generate.programmes; "
            f"known: {names or 'none (add one to the pipeline config)'}"
        )
    return names.index(programme)


def run_evaluate(
    config: PipelineConfig,
    data_dir: Path,
    programme: str,
    *,
    out_dir: Path,
    disclosure: DisclosureConfig,
    placebos: int = 39,
    seed: int | None = None,
    selection_buffer: int = 1,
    track: bool = True,
) -> EvaluationResult:
    """Evaluate one configured programme on the city in ``data_dir``; write and log the result."""
    index = _find(config, programme)
    if placebos < 9:
        raise ProgrammeError(
            f"--placebos: at least 9 are needed for a 95% interval (got {placebos})"
        )
    if selection_buffer < 0:
        raise ProgrammeError(f"--selection-buffer: must be 0 or more (got {selection_buffer})")
    data_dir = Path(data_dir)
    geography_path = data_dir / "geography.parquet"
    if not geography_path.is_file():
        raise ProgrammeError(f"--data: {data_dir} holds no generated city (no geography.parquet)")
    gen = config.generate
    plan = plan_programmes(gen, pd.read_parquet(geography_path))[index]
    panel = build_panel(
        data_dir,
        plan.ward_start,
        np.datetime64(gen.start_date),
        np.datetime64(gen.end_date),
        programme,
    ).frame
    treated_rows = panel[panel["first_treated"] != NEVER]
    young = treated_rows.groupby("period")["population"].sum().min()
    if young < disclosure.min_count:
        raise ProgrammeError(
            f"programme '{programme}': its wards hold fewer than {disclosure.min_count} young "
            "people in some year; too few to publish (disclosure min_count)"
        )
    rng_seed = config.seed if seed is None else seed
    did = did2s_estimate(panel)
    estimates = [
        poisson_imputation_estimate(
            panel, placebos=placebos, seed=rng_seed, selection_buffer=selection_buffer
        ),
        did,
        synthetic_control_estimate(panel, placebos=placebos, seed=rng_seed),
        naive_estimate(panel),
    ]
    placebo_checks = [
        false_start_placebo(panel, placebos=placebos, seed=rng_seed),
        _untreated_placebo(panel, placebos, rng_seed),
    ]
    events, withheld = _protected_events(did.event_study, treated_rows, disclosure)
    first = treated_rows.groupby("ward_code")["first_treated"].first()
    result = EvaluationResult(
        programme=programme,
        treated_wards=int(first.size),
        comparison_wards=int(panel["ward_code"].nunique() - first.size),
        waves=sorted({str(np.datetime64(int(d), "D")) for d in plan.ward_start}),
        periods=int(panel["period"].nunique()),
        recorded_treated_before=protect_count(
            int(treated_rows.loc[~treated_rows["treated"], "recorded"].sum()), disclosure
        ),
        recorded_treated_after=protect_count(
            int(treated_rows.loc[treated_rows["treated"], "recorded"].sum()), disclosure
        ),
        estimates=[_without_events(e) for e in estimates],
        placebos=placebo_checks,
        event_study=events,
        withheld_event_points=withheld,
        out_dir=Path(out_dir),
        selection_buffer=selection_buffer,
    )
    return _track(result) if track else _write(result)


def _without_events(estimate: ProgrammeEstimate) -> ProgrammeEstimate:
    return ProgrammeEstimate(
        estimate.estimator,
        estimate.effect,
        estimate.low,
        estimate.high,
        estimate.p_value,
        note=estimate.note,
    )


def _untreated_placebo(panel: pd.DataFrame, placebos: int, seed: int) -> ProgrammeEstimate:
    """The main estimate on the untreated wards alone, a random set given the programme's starts."""
    first = panel.groupby("ward_code")["first_treated"].first()
    treated, untreated = first[first != NEVER], list(first.index[first == NEVER])
    size = min(len(treated), len(untreated) // 2)
    if size < 1:
        return ProgrammeEstimate("untreated_areas", np.nan, np.nan, np.nan, np.nan, note="too few")
    rng = np.random.default_rng(seed)
    fake = rng.choice(untreated, size=size, replace=False)
    starts = dict(zip(fake, rng.choice(treated.to_numpy(), size=size), strict=True))
    frame = panel[panel["ward_code"].isin(untreated)].copy()
    frame["first_treated"] = frame["ward_code"].map(starts).fillna(NEVER).astype(int)
    frame["treated"] = (frame["first_treated"] != NEVER) & (
        frame["period"] >= frame["first_treated"]
    )
    e = poisson_imputation_estimate(frame, placebos=placebos, seed=seed)
    return ProgrammeEstimate("untreated_areas", e.effect, e.low, e.high, e.p_value)


def _protected_events(
    points: list[EventPoint], treated_rows: pd.DataFrame, rules: DisclosureConfig
) -> tuple[list[EventPoint], int]:
    """Event-study points resting on at least ``min_count`` recorded outcomes."""
    rel = treated_rows["period"] - treated_rows["first_treated"]
    support = treated_rows.groupby(rel)["recorded"].sum()
    kept = [p for p in points if support.get(p.k, 0) >= rules.min_count]
    return kept, len(points) - len(kept)


def _percent(x: float | None) -> str:
    return "not estimable" if x is None or not math.isfinite(x) else f"{100 * x:+.0f}%"


_NAMES = {
    "poisson_imputation": "Difference-in-differences on counts (imputation, placebo interval)",
    "did2s": "Difference-in-differences on rates (two-stage, pyfixest)",
    "synthetic_control": "Synthetic control (placebo interval; biased when the programme's "
    "wards are the city's riskiest)",
    "naive": "Before/after in the programme's wards (naive, for comparison only)",
    "false_start": "False start date (2 years early, before the programme)",
    "untreated_areas": "Untreated wards given the programme's start dates",
}


def _sentence(e: ProgrammeEstimate) -> str:
    if not math.isfinite(e.effect):
        return f"{_NAMES[e.estimator]}: not estimable ({e.note})."
    verdict = (
        "the interval excludes no change"
        if e.significant
        else "the interval includes no change: it does not show an effect"
    )
    return (
        f"{_NAMES[e.estimator]}: {_percent(e.effect)} (95% interval {_percent(e.low)} to "
        f"{_percent(e.high)}); {verdict}."
    )


def report_markdown(result: EvaluationResult) -> str:
    """The report for the board and planners, in plain words."""
    main = result.estimates[0]
    lines = [
        f"# Did the programme '{result.programme}' work?",
        "",
        "## What was estimated",
        f"The change in recorded serious violence among young people (10-24) in the "
        f"{result.treated_wards} wards where the programme ran, after it started "
        f"({', '.join(result.waves)}), compared with what would have happened without it. "
        f"The comparison is {result.comparison_wards} wards where it did not run, over "
        f"{result.periods} years. Recorded outcomes in the programme's wards: about "
        f"{result.recorded_treated_before or 'too few to show'} before its start and "
        f"{result.recorded_treated_after or 'too few to show'} after.",
        "",
        "## How sure",
        *[f"- {_sentence(e)}" for e in result.estimates],
        "",
        f"The main answer is the first line. {_reading(main)} The before/after line is shown "
        "because it is what a simple comparison would report: it mistakes the city's trend "
        "and the choice of high-risk wards for the programme's effect.",
        "",
        "## What it rests on, and the checks",
        "- *Parallel trends*: without the programme, its wards' rates would have moved like "
        "the comparison wards'. Check: the event-study chart's points before the start should "
        "sit near zero, and the false-start check should show no effect:",
        f"  - {_sentence(result.placebos[0])}",
        "- *No effect where nothing happened*: the same method run on untreated wards alone "
        "should find nothing:",
        f"  - {_sentence(result.placebos[1])}",
        f"- *The wards were not chosen for a bad year*: the {result.selection_buffer} year(s) "
        "just before each start are left out of the main estimate's fit, so that a spike "
        "which led to the choice, and its fall back, are not taken for an effect.",
        "- *No spill-over*: the programme did not change violence in the comparison wards.",
        "- *Recording did not change with the programme*: more policing in its wards would "
        "raise recorded outcomes and hide an effect.",
        "",
        "## Protection",
        "Figures are for groups of wards only; counts are rounded and small ones withheld "
        f"under the release's disclosure rules ({result.withheld_event_points} event-study "
        "point(s) withheld for resting on too few outcomes).",
    ]
    return "\n".join(lines) + "\n"


def _reading(e: ProgrammeEstimate) -> str:
    if not math.isfinite(e.effect):
        return "It could not be estimated."
    if e.high < 0:
        return f"The programme's wards saw fewer recorded outcomes than expected, by about {_percent(-e.effect)[1:]}."
    if e.low > 0:
        return "The programme's wards saw more recorded outcomes than expected."
    return "The data cannot tell this programme's effect from no effect."


def _html(markdown: str) -> str:
    body = []
    for line in markdown.splitlines():
        text = html.escape(line)
        if line.startswith("# "):
            body.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("  - "):
            body.append(f"<p style='margin-left:2em'>{text[4:]}</p>")
        elif line.startswith("- "):
            body.append(f"<p>&bull; {text[2:]}</p>")
        elif line:
            body.append(f"<p>{text}</p>")
    body.append("<img src='event_study.png' alt='Event study: effect by year since the start'>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Programme evaluation</title>"
        "</head><body>" + "\n".join(body) + "</body></html>\n"
    )


def _chart(result: EvaluationResult, path: Path) -> None:
    """The event study: effect on the rate per 1,000 by year since the start, with 95% bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    points = result.event_study
    if points:
        k = np.array([p.k for p in points])
        est = np.array([p.estimate for p in points])
        err = np.array(
            [[p.estimate - p.low for p in points], [p.high - p.estimate for p in points]]
        )
        ax.errorbar(k, est, yerr=err, fmt="o", capsize=3)
    ax.axhline(0, color="grey", linestyle=":")
    ax.axvline(-0.5, color="grey", linestyle="--")
    ax.set(
        xlabel="years since the programme started (-1 = the year before)",
        ylabel="difference, per 1,000 young people",
        title=f"Event study: {result.programme}",
    )
    fig.savefig(path, dpi=100)


def _write(result: EvaluationResult) -> EvaluationResult:
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    markdown = report_markdown(result)
    (out / "report.md").write_text(markdown)
    (out / "report.html").write_text(_html(markdown))
    _chart(result, out / "event_study.png")
    return result


def _track(result: EvaluationResult) -> EvaluationResult:
    import mlflow

    from training.tracking import stage_run

    with stage_run(EXPERIMENT, f"evaluate {result.programme}") as run_id:
        result = _write(replace(result, run_id=run_id))
        mlflow.log_params(
            {
                "programme": result.programme,
                "treated_wards": result.treated_wards,
                "comparison_wards": result.comparison_wards,
                "waves": ",".join(result.waves),
            }
        )
        metrics = {}
        for e in [*result.estimates, *result.placebos]:
            for key in ("effect", "low", "high", "p_value"):
                value = getattr(e, key)
                if math.isfinite(value):
                    metrics[f"{e.estimator}.{key}"] = float(value)
        mlflow.log_metrics(metrics)
        for name in ("result.json", "report.md", "report.html", "event_study.png"):
            mlflow.log_artifact(str(result.out_dir / name), artifact_path="programme")
    return result
