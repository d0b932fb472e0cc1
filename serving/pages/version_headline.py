"""A model version's headline figures for the board's list: test ROC AUC and O/E.

The versions list said which version had passed its gates but not how good any was, so a
board member opened each report to compare them. Here each version gets two figures, when
they were logged: the test ROC AUC its training run logged (``test_roc_auc``), and the
observed ÷ expected outcomes of its audit with the exact interval
(``calibration.check.overall`` of ``audit/audit.json``, :mod:`governance.audit.calibration`).
Pure functions; the audit document is read leniently (only these fields), so that an older
or newer document still gives what it has instead of nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Headline", "headline_of"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Overall(_Lenient):
    ratio: float | None = None
    low: float | None = None
    high: float | None = None


class _Check(_Lenient):
    confidence: float | None = None
    overall: _Overall | None = None


class _Calibration(_Lenient):
    check: _Check | None = None


class _Document(_Lenient):
    calibration: _Calibration | None = None


class Headline(_Lenient):
    """What the board's list shows of a version's quality; None where not logged."""

    roc_auc: float | None = None
    observed_expected: float | None = None
    observed_expected_low: float | None = None
    observed_expected_high: float | None = None
    confidence: float | None = None

    @property
    def text(self) -> str:
        """``ROC AUC 0.781 · O/E 1.02 (95% 0.95–1.10)``, or "not logged"."""
        parts = []
        if self.roc_auc is not None:
            parts.append(f"ROC AUC {self.roc_auc:.3f}")
        if self.observed_expected is not None:
            oe = f"O/E {self.observed_expected:.2f}"
            if self.observed_expected_low is not None and self.observed_expected_high is not None:
                level = "" if self.confidence is None else f"{self.confidence:.0%} "
                oe += (
                    f" ({level}{self.observed_expected_low:.2f}–{self.observed_expected_high:.2f})"
                )
            parts.append(oe)
        return " · ".join(parts) or "not logged"


def headline_of(metrics: Mapping[str, float], audit_json: bytes | None) -> Headline:
    """The headline of a version from its run's ``metrics`` and its ``audit.json`` (if any)."""
    auc = metrics.get("test_roc_auc")
    overall, confidence = None, None
    if audit_json is not None:
        try:
            check = _Document.model_validate_json(audit_json).calibration
        except ValidationError:
            check = None
        if check is not None and check.check is not None:
            overall, confidence = check.check.overall, check.check.confidence
    return Headline(
        roc_auc=None if auc is None else float(auc),
        observed_expected=None if overall is None else overall.ratio,
        observed_expected_low=None if overall is None else overall.low,
        observed_expected_high=None if overall is None else overall.high,
        confidence=confidence,
    )
