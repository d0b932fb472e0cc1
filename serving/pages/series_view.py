"""The area page's back-scored series: the points as the API serves them, and their chart."""

from __future__ import annotations

from markupsafe import Markup

from serving.pages.charts import TrendPoint, trend_chart
from serving.releases import LoadedRelease
from serving.schemas import AreaPublic
from serving.series import AreaTrend, no_series_body

__all__ = ["area_series", "series_chart"]


def area_series(release: LoadedRelease, area: AreaPublic) -> AreaTrend:
    """The area's series as ``GET /v1/areas/{code}/trend`` answers (the same bytes)."""
    body = None if release.series is None else release.series.body(area.code)
    if body is None:
        body = no_series_body(release.manifest, area.code, area.level, area.name)
    return AreaTrend.model_validate_json(body)


def series_chart(series: AreaTrend, name: str) -> Markup | None:
    """Mean risk and its interval at each as-of date (server-drawn SVG), or None."""
    if not series.available:
        return None
    return trend_chart(
        [TrendPoint(p.as_of_date, p.mean_risk, p.risk_low, p.risk_high) for p in series.points],
        title=f"Mean risk of {name} at each as-of date, scored by this release's model",
        ident="series",
        x_label="As-of date (young people known then; same model throughout)",
    )
