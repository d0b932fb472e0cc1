"""How wide a label will be drawn, estimated without a browser, so that a chart can fit it.

The charts are SVG made on the server (:mod:`serving.pages.charts`): the browser draws their
text in the page's sans-serif font, and a ``text-anchor="end"`` label wider than the margin
left for it is cut at the chart's edge ("arking and Dagenham 001A"). These widths are
upper estimates per character, in ems, of common sans-serif fonts (Arial, Helvetica,
DejaVu Sans, Roboto): generous, so that a label measured to fit does fit.
"""

from __future__ import annotations

__all__ = ["fit_label", "text_width"]

_NARROW = frozenset("fijlrtI|!.,:;'()[] ")
_WIDE = frozenset("MWmw@%")
_EM_NARROW, _EM_WIDE, _EM_UPPER, _EM_DIGIT, _EM_OTHER = 0.36, 0.95, 0.74, 0.64, 0.6


def _em(char: str) -> float:
    if char in _NARROW:
        return _EM_NARROW
    if char in _WIDE:
        return _EM_WIDE
    if char.isupper():
        return _EM_UPPER
    if char.isdigit():
        return _EM_DIGIT
    return _EM_OTHER


def text_width(text: str, font_px: float) -> float:
    """An upper estimate of ``text``'s drawn width in pixels at ``font_px``."""
    return font_px * sum(_em(c) for c in text)


def fit_label(text: str, font_px: float, room_px: float) -> str:
    """``text`` if it fits in ``room_px``, else cut at a word or character with an ellipsis.

    The caller keeps the full text (in a ``<title>``): the ellipsis says something was cut.
    """
    if text_width(text, font_px) <= room_px:
        return text
    cut = text
    while cut and text_width(cut + "…", font_px) > room_px:
        cut = cut[:-1]
    return cut.rstrip() + "…"
