"""Reads for support-rate reports: database aggregation (counts), slices, the campaign report,
exports (CSV, text) and the PM dashboard. Statistics come from the pure ``evalhub.stats``."""

from evalhub.selectors.reports.campaign import (
    BREAKDOWNS,
    campaign_get_for_report,
    campaign_report,
    parse_breakdowns,
)
from evalhub.selectors.reports.export import breakdown_lines, report_csv, report_text

__all__ = [
    "BREAKDOWNS",
    "breakdown_lines",
    "campaign_get_for_report",
    "campaign_report",
    "parse_breakdowns",
    "report_csv",
    "report_text",
]
