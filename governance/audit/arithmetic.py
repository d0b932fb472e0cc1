"""Two numeric helpers the audit's figures share: a ratio that may be undefined, and NaN as None.

A rate whose denominator is zero (the true positive rate of a group with no positives) is
undefined: :func:`divide` gives NaN there, without numpy's warning, and :func:`float_or_none`
turns that NaN into the ``None`` that ``audit.json`` reports. :func:`finite_or_none` does the
same for infinities too (Fairlearn's figures, which are not computed here).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["divide", "finite_or_none", "float_or_none"]


def divide(numerator: ArrayLike, denominator: ArrayLike) -> NDArray[np.float64]:
    """Elementwise ratio, NaN where the denominator is zero (and no warning)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def float_or_none(value: Any) -> float | None:
    """A number (a numpy one too) as a plain float, NaN as None."""
    number = float(value)
    return None if math.isnan(number) else number


def finite_or_none(value: Any) -> float | None:
    """A number as a plain float, NaN and infinities as None."""
    number = float(value)
    return number if math.isfinite(number) else None
