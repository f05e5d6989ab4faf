"""What doctor found, as plain data, and its text and JSON forms.

A Check is one line of the read-only doctor; a StepResult is one step of `doctor --live`; a
Difference is one place where Railway answered otherwise than saas-infra expects. Nothing here
calls Railway or decides a status; the JSON shape (check ids, keys) is stable for scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # nothing to check (no tenant yet), or an earlier check failed


SYMBOLS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-"}
STYLES = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim"}


@dataclass(frozen=True)
class Difference:
    """Railway's answer to `operation` differs from saas-infra's belief at `field`. Never holds
    a variable value: `seen` describes a value's shape, not its content."""

    operation: str
    field: str
    expected: str
    seen: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.field}: expected {self.expected}, seen {self.seen}"

    def to_dict(self) -> dict[str, str]:
        return {"operation": self.operation, "field": self.field, "expected": self.expected,
                "seen": self.seen}


@dataclass
class Check:
    id: str
    status: Status
    summary: str
    fix: str | None = None  # what to do, for a failing or warning check
    details: dict[str, Any] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status.value, "summary": self.summary,
                "fix": self.fix, "details": self.details,
                "differences": [d.to_dict() for d in self.differences]}


@dataclass
class StepResult:
    """One step of `doctor --live`: what it did, what it cost, and what differed."""

    name: str
    status: Status
    summary: str
    calls: int = 0
    seconds: float = 0.0
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts learnt about Railway, not failures

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "status": self.status.value, "summary": self.summary,
                "calls": self.calls, "seconds": round(self.seconds, 1),
                "differences": [d.to_dict() for d in self.differences], "notes": self.notes}


@dataclass
class Cleanup:
    """What the end of a live run (or `doctor --cleanup`) removed, and what it could not."""

    removed: list[str] = field(default_factory=list)  # "saas-infra-doctor-ab12 (id)"
    scheduled: list[str] = field(default_factory=list)  # left to Railway's scheduled delete
    left: list[str] = field(default_factory=list)  # could not clean: what and what to do
    skipped: list[str] = field(default_factory=list)  # another run's, still within its lease

    @property
    def ok(self) -> bool:
        return not self.left

    def to_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "scheduled": self.scheduled, "left": self.left,
                "skipped": self.skipped}


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    cleanup: Cleanup | None = None
    project: str | None = None  # the live run's throwaway project
    calls: int = 0  # HTTP requests sent to Railway, retries included
    seconds: float = 0.0
    interrupted: bool = False
    cassettes: list[str] = field(default_factory=list)
    recording_error: str | None = None

    @property
    def ok(self) -> bool:
        bad: list[Check | StepResult] = [c for c in self.checks if c.status is Status.FAIL]
        bad += [s for s in self.steps if s.status is Status.FAIL]
        clean = self.cleanup is None or self.cleanup.ok
        return not bad and not self.interrupted and clean and not self.recording_error

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}
        if self.project:
            out["live"] = {"project": self.project, "interrupted": self.interrupted,
                           "steps": [s.to_dict() for s in self.steps]}
        if self.cleanup is not None:
            out["cleanup"] = self.cleanup.to_dict()
        out["cost"] = {"api_calls": self.calls, "seconds": round(self.seconds, 1)}
        if self.cassettes or self.recording_error:
            out["recording"] = {"cassettes": self.cassettes, "error": self.recording_error}
        return out


# --- text ---------------------------------------------------------------------------------------

Line = tuple[str, str | None]  # (text, rich style)
_WIDTH = 16


def check_lines(checks: list[Check]) -> list[Line]:
    lines: list[Line] = []
    for check in checks:
        lines.append((f"{SYMBOLS[check.status]} {check.id:<{_WIDTH}} {check.summary}",
                      STYLES[check.status]))
        lines += [(f"  {'':<{_WIDTH}} {d}", STYLES[Status.FAIL]) for d in check.differences]
        if check.fix and check.status in (Status.WARN, Status.FAIL):
            lines.append((f"  {'':<{_WIDTH}} → {check.fix}", None))
    return lines


def step_lines(steps: list[StepResult]) -> list[Line]:
    lines: list[Line] = []
    for step in steps:
        cost = f" ({_calls(step.calls)}, {step.seconds:.1f} s)" if step.calls else ""
        lines.append((f"{SYMBOLS[step.status]} {step.name:<{_WIDTH}} {step.summary}{cost}",
                      STYLES[step.status]))
        lines += [(f"  {'':<{_WIDTH}} {d}", STYLES[Status.FAIL]) for d in step.differences]
        lines += [(f"  {'':<{_WIDTH}} note: {n}", "dim") for n in step.notes]
    return lines


def cleanup_lines(cleanup: Cleanup) -> list[Line]:
    lines: list[Line] = []
    for what in cleanup.removed:
        lines.append((f"{SYMBOLS[Status.OK]} {'cleanup':<{_WIDTH}} deleted {what}", "green"))
    for what in cleanup.scheduled:
        lines.append((f"{SYMBOLS[Status.WARN]} {'cleanup':<{_WIDTH}} {what}", "yellow"))
    for what in cleanup.skipped:
        lines.append((f"{SYMBOLS[Status.WARN]} {'cleanup':<{_WIDTH}} left alone: {what}",
                      "yellow"))
    for what in cleanup.left:
        lines.append((f"{SYMBOLS[Status.FAIL]} {'cleanup':<{_WIDTH}} NOT cleaned: {what}", "red"))
    if not (cleanup.removed or cleanup.scheduled or cleanup.left or cleanup.skipped):
        lines.append((f"{SYMBOLS[Status.OK]} {'cleanup':<{_WIDTH}} nothing to clean", "green"))
    return lines


def cost_line(report: Report) -> str:
    failed = sum(1 for c in report.checks if c.status is Status.FAIL)
    failed += sum(1 for s in report.steps if s.status is Status.FAIL)
    verdict = "all good" if report.ok else (
        "interrupted" if report.interrupted else f"{failed} failed" if failed else
        "recording not written" if report.recording_error else "not clean")
    return f"Cost: {_calls(report.calls)} to Railway, {report.seconds:.1f} s. Doctor: {verdict}."


def _calls(n: int) -> str:
    return f"{n} API call" + ("" if n == 1 else "s")


def report_lines(report: Report) -> list[Line]:
    lines = check_lines(report.checks)
    if report.project:
        lines.append((f"Live run on {report.project}:", "bold"))
        lines += step_lines(report.steps)
        if report.interrupted:
            lines.append(("Interrupted before the end; the project was cleaned up below.",
                          "yellow"))
    if report.cleanup is not None:
        lines += cleanup_lines(report.cleanup)
    lines += [(f"Recorded {path}", "dim") for path in report.cassettes]
    if report.recording_error:
        lines.append((f"{SYMBOLS[Status.FAIL]} {'record':<{_WIDTH}} {report.recording_error}",
                      "red"))
    lines.append((cost_line(report), None))
    return lines
