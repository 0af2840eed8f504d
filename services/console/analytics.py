"""The analytics page's charts from the read API's `/v1/analytics` answers (pure): posts per
day, success rate per day, time to publish and engagement per platform, posts per job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup

from services.console import charts
from services.console.views import platform_name

Json = dict[str, Any]
TOP_JOBS = 10  # jobs shown in the per-job chart (the CSV export has them all)


@dataclass(frozen=True)
class Chart:
    chart_id: str
    svg: Markup  # built by `charts`, which escapes every text it is given


def _day_series(
    groups: list[Json], value: Callable[[Json], float | None]
) -> list[tuple[date, float]]:
    points = []
    for group in groups:
        measured = value(group)
        if measured is not None:
            points.append((date.fromisoformat(group["key"]), float(measured)))
    return points


def _engagement(group: Json, metric: str) -> float | None:
    value = (group.get("engagement") or {}).get(metric)
    return None if value is None else float(value)


def _ttp(group: Json, which: str) -> float | None:
    value = (group.get("time_to_publish") or {}).get(which)
    return None if value is None else float(value)


def analytics_charts(by_day: Json, by_platform: Json, by_job: Json) -> list[Chart]:
    days = by_day.get("groups", [])
    platforms = by_platform.get("groups", [])
    jobs = sorted(by_job.get("groups", []), key=lambda g: (-g.get("posts", 0), g["key"]))
    jobs = jobs[:TOP_JOBS]

    def per_platform(value: Callable[[Json], float | None]) -> list[tuple[str, float]]:
        return [
            (platform_name(g["key"]), float(v)) for g in platforms if (v := value(g)) is not None
        ]

    svgs = {
        # Bars: a day with posts reads as a count, even when it is the only day.
        "posts-per-day": charts.bar_chart(
            {
                "posted": _day_series(days, lambda g: g.get("published", 0)),
                "failed": _day_series(days, lambda g: g.get("failed", 0)),
                "all posts": _day_series(days, lambda g: g.get("posts", 0)),
            },
            title="Posts per day",
            y_label="posts",
        ),
        "success-rate": charts.line_chart(
            {
                "success rate": _day_series(
                    days,
                    lambda g: None if g.get("success_rate") is None else g["success_rate"] * 100,
                )
            },
            title="Success rate per day",
            y_label="% posted of posted + failed",
        ),
        "time-to-publish": charts.bar_chart(
            {
                "median": per_platform(lambda g: _ttp(g, "p50_seconds")),
                "95th percentile": per_platform(lambda g: _ttp(g, "p95_seconds")),
            },
            title="Time to publish by platform",
            y_label="seconds",
        ),
        "engagement": charts.line_chart(
            {
                "interactions": _day_series(days, lambda g: _engagement(g, "total_interactions")),
                "views": _day_series(days, lambda g: _engagement(g, "views")),
            },
            title="Engagement over time (by day posted)",
            y_label="count",
        ),
        "per-job": charts.bar_chart(
            {
                "posted": [(g["key"], float(g.get("published", 0))) for g in jobs],
                "failed": [(g["key"], float(g.get("failed", 0))) for g in jobs],
            },
            title=f"Posts per job (the {TOP_JOBS} with most posts)",
            y_label="posts",
        ),
    }
    return [Chart(chart_id, Markup(svg)) for chart_id, svg in svgs.items()]  # noqa: S704
