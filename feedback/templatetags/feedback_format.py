"""Number formatting for the feedback dashboards."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """0.1234 -> "12.3%"; None -> "n/a"."""
    if value is None:
        return "n/a"
    return f"{float(value) * 100:.{digits}f}%"


@register.filter
def points(value: Any) -> str:
    """A difference of two rates in percentage points: 0.031 -> "+3.1 pts"."""
    if value is None:
        return "n/a"
    return f"{float(value) * 100:+.1f} pts"


@register.filter
def pvalue(value: Any) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}".rstrip("0").rstrip(".")


@register.filter
def seconds(ms: Any) -> str:
    if ms is None:
        return "n/a"
    return f"{float(ms) / 1000:.1f} s"


@register.filter
def bar_left(value: Any) -> str:
    """A rate (0..1) as a CSS percentage for the interval bars."""
    return f"{max(0.0, min(1.0, float(value or 0))) * 100:.2f}"


@register.filter
def bar_width(interval: Any) -> str:
    low, high = interval
    return f"{max(0.4, (float(high) - float(low)) * 100):.2f}"


@register.filter
def diff_left(value: Any) -> str:
    """A difference (-1..1) placed on a 0..100% bar with 0 in the middle."""
    return f"{(max(-1.0, min(1.0, float(value or 0))) + 1) * 50:.2f}"


@register.filter
def diff_width(interval: Any) -> str:
    low, high = interval
    return f"{max(0.4, (float(high) - float(low)) * 50):.2f}"


@register.simple_tag
def pair(low: Any, high: Any) -> tuple[Any, Any]:
    return (low, high)
