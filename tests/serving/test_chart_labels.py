"""Bar chart labels fit their margin (issue 18: "arking and Dagenham 001A" was cut off)."""

from __future__ import annotations

import re

from serving.pages.charts import Bar, bar_chart
from serving.pages.text_width import fit_label, text_width

LONG = "Barking and Dagenham 001A"


def _labels(svg: str) -> list[tuple[float, str]]:
    """Each bar label's right edge (its x, anchored at the end) and text."""
    return [
        (float(x), text)
        for x, text in re.findall(
            r'<text class="bar-label" x="([\d.]+)"[^>]*>(?:<title>[^<]*</title>)?([^<]*)</text>',
            svg,
        )
    ]


def test_a_londonish_label_is_drawn_whole_inside_the_chart() -> None:
    svg = bar_chart(
        [Bar(LONG, 0.05, 0.04, 0.06, "/a"), Bar("Ealing 002B", 0.04, 0.03, 0.05, "/b")],
        title="Top",
    )
    (right, text), _ = _labels(svg)
    assert text == LONG  # not cut
    assert right - text_width(text, 13) >= 0  # starts inside the chart, not left of it


def test_a_label_too_long_for_any_margin_is_cut_with_its_full_name_kept() -> None:
    name = "The Very Long Name of a Ward That Nobody Could Fit Beside a Chart 001A"
    svg = bar_chart([Bar(name, 0.05, 0.04, 0.06, "/a")], title="Top")
    ((right, text),) = _labels(svg)
    assert text.endswith("…") and name.startswith(text[:-1])
    assert right - text_width(text, 13) >= 0
    assert f"<title>{name}</title>" in svg  # the full name, for pointer and screen reader


def test_short_labels_leave_the_plot_its_width() -> None:
    svg = bar_chart([Bar("Elm", 0.05, 0.04, 0.06, "/a")], title="Top")
    ((right, _),) = _labels(svg)
    assert right <= 120


def test_fit_label_keeps_what_fits_and_cuts_what_does_not() -> None:
    assert fit_label("Camden", 13, 200) == "Camden"
    cut = fit_label("Kensington and Chelsea 001A", 13, 80)
    assert cut.endswith("…") and text_width(cut, 13) <= 80
    assert text_width("MMMM", 13) > text_width("iiii", 13)
