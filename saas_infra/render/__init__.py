"""The render layer: every word saas-infra prints, in every format. Decides nothing, calls
nothing; takes the core's results (plans, pass reports, the verbs' typed results) and returns
text, JSON-ready data or Markdown.

    plan.py   plans and pass reports: terminal lines, JSON, Markdown (pull requests, CI summaries)
    text.py   the verbs and commands on a terminal (what `create` prints is create_lines)
    data.py   the verbs' results as JSON (--json)
    words.py  plurals, durations, times and status words every format shares

The demo's HTML is its templates' (saas_infra/demo/templates/), with summaries from text.py.
"""

from saas_infra.render.plan import (
    MARKDOWN_MIN_CHARS,
    SUMMARY_COLUMNS,
    SYMBOLS,
    apply_markdown,
    plan_json,
    plan_markdown,
    plan_text,
    report_json,
    summary_counts,
    summary_line,
)

__all__ = [
    "MARKDOWN_MIN_CHARS",
    "SUMMARY_COLUMNS",
    "SYMBOLS",
    "apply_markdown",
    "plan_json",
    "plan_markdown",
    "plan_text",
    "report_json",
    "summary_counts",
    "summary_line",
]
