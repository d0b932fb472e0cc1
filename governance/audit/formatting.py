"""Numbers and values from an audit, written for people; one rule for a missing value.

The board's report and the model card both print figures from the audit. They use these
functions so that a figure reads the same in both places:

1. A rate is a percentage with one decimal (``12.3%``), an AUC or any other decimal has three
   decimals (``0.812``), a count has thousands separators (``12,345``).
2. A missing value (``None``, or a number that is not finite) reads :data:`DASH`, "—".
3. A boolean reads "yes" or "no"; any other value that is not a number is printed as it is.

:func:`kind_of` guesses from a figure's name how it should be read (``test_roc_auc`` is an
AUC, ``tpr`` a rate, ``psi`` a decimal), so rules that name figures as data can be printed
without a table of formats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

__all__ = [
    "DASH",
    "Kind",
    "bounds",
    "difference",
    "fmt",
    "kind_of",
    "number",
    "points",
    "ratio",
    "sci",
    "seconds",
    "sentence",
    "signed",
    "text",
]

Kind = Literal["rate", "auc", "decimal", "count", "text"]

DASH = "—"

_RATE_TOKENS = frozenset(
    {"rate", "tpr", "fpr", "fnr", "precision", "recall", "prevalence", "share", "accuracy"}
)
_DECIMAL_TOKENS = frozenset({"difference", "ece", "brier", "slope", "psi", "ratio", "threshold"})
_FORMATS: dict[Kind, Callable[[float], str]] = {
    "rate": lambda v: f"{100 * v:.1f}%",
    "auc": lambda v: f"{v:.3f}",
    "decimal": lambda v: f"{v:.3f}",
    "count": lambda v: f"{round(v):,}",
    "text": str,
}


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None if it is not a finite number (booleans are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def text(value: Any) -> str:
    """``value`` as text; None reads :data:`DASH`."""
    return DASH if value is None else str(value)


def sentence(words: str) -> str:
    """``words`` stripped and ending with a full stop (unless it ends with . ! or ?)."""
    words = words.strip()
    return words if words.endswith((".", "!", "?")) else f"{words}."


def kind_of(name: str, default: Kind = "decimal") -> Kind:
    """How a figure called ``name`` should be read, from the words in its name."""
    tokens = set(name.lower().replace("(", " ").replace(")", " ").replace("_", " ").split())
    if any("auc" in t for t in tokens):
        return "auc"
    if tokens & _DECIMAL_TOKENS:
        return "decimal"
    if tokens & _RATE_TOKENS:
        return "rate"
    return default


def fmt(value: Any, kind: Kind) -> str:
    """A value for people: a percentage, three decimals or a count; missing is a dash."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    finite = number(value)
    if finite is None:
        return DASH if isinstance(value, float) else str(value)
    return _FORMATS[kind](finite)


def bounds(interval: Any, kind: Kind) -> str:
    """`` (low–high)`` from a two-value interval, or "" if it is not one."""
    if isinstance(interval, list | tuple) and len(interval) == 2:
        low, high = number(interval[0]), number(interval[1])
        if low is not None and high is not None:
            if kind == "rate":
                return f" ({100 * low:.1f}–{100 * high:.1f}%)"
            return f" ({fmt(low, kind)}–{fmt(high, kind)})"
    return ""


def points(value: Any) -> str:
    """A difference of rates in percentage points, signed: ``+1.2 pts``."""
    finite = number(value)
    return DASH if finite is None else f"{100 * finite:+.1f} pts"


def signed(value: Any) -> str:
    """A signed decimal with three places: ``-0.012``."""
    finite = number(value)
    return DASH if finite is None else f"{finite:+.3f}"


def ratio(value: Any) -> str:
    """A ratio with two decimals: ``0.88``."""
    finite = number(value)
    return DASH if finite is None else f"{finite:.2f}"


def seconds(value: Any) -> str:
    """A duration: ``1.5 s``."""
    finite = number(value)
    return DASH if finite is None else f"{finite:.1f} s"


def sci(value: Any) -> str:
    """A tiny number in scientific notation: ``1.2e-07``."""
    finite = number(value)
    return DASH if finite is None else f"{finite:.1e}"


def difference(value: Any, reference: Any, kind: Kind) -> str:
    """``value - reference``, signed: in points for rates, three decimals otherwise."""
    a, b = number(value), number(reference)
    if a is None or b is None:
        return DASH
    if kind == "rate":
        return f"{100 * (a - b):+.1f} pts"
    return f"{a - b:+.3f}"
