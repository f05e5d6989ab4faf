"""`saas-infra doctor`: checks a Railway setup in one command and tells the project where Railway
differs from what saas-infra expects.

    checks.py   the read-only checks (token, workspace, rate limits, templates, listing, ...)
    live.py     `--live`: every mutation on a throwaway project, then clean-up (`--cleanup`)
    expect.py   what saas-infra expects of each answer (shape and meaning)
    wire.py     doctor's view of its own traffic (counts, headers, answers)
    record.py   `--record DIR`: scrubbed vcrpy cassettes; scrub.py is the filter
    report.py   the results as data, text and JSON

It sits beside operator.py: the command line calls it; it calls the client, the observation,
apply's Applier and the lock's parser, never the other way round. It never prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from saas_infra.apply import generate_key
from saas_infra.clock import Clock
from saas_infra.doctor.checks import CHECK_IDS, Setup, run_checks
from saas_infra.doctor.live import LiveRun, interrupts_as_keyboard, shielded, sweep
from saas_infra.doctor.record import Recorder
from saas_infra.doctor.report import Cleanup, Report, report_lines
from saas_infra.doctor.scrub import Scrubber, ScrubError
from saas_infra.doctor.wire import Tap, Wire
from saas_infra.railway.client import RailwayClient

__all__ = ["CHECK_IDS", "Options", "Report", "Setup", "report_lines", "run"]

Wrap = Callable[[httpx.BaseTransport | None], httpx.BaseTransport]


@dataclass(frozen=True)
class Options:
    live: bool = False
    cleanup: bool = False
    record: Path | None = None
    holder: str = "unknown"  # who runs it, written into the live project's marker
    poll_interval: float = 2.0
    deploy_timeout: float = 900.0


def run(make_client: Callable[[Wrap], RailwayClient], setup: Setup, clock: Clock, options: Options, *,
        confirm: Callable[[str], bool], say: Callable[[str], None] | None = None,
        key_factory: Callable[[], str] = generate_key) -> Report:
    """The read-only checks, then (if asked and confirmed) the live run or the clean-up.
    `make_client(wrap)` builds the client saas-infra would use, its transport passed through
    `wrap`; `confirm(question)` is asked before anything is changed."""
    say = say or (lambda _text: None)
    began = clock.monotonic()
    wires: list[Wire] = []
    recorder = Recorder(options.record, Scrubber()) if options.record is not None else None

    def wrap(inner: httpx.BaseTransport | None) -> httpx.BaseTransport:
        wire = Wire(inner or httpx.HTTPTransport(), recorder)
        wires.append(wire)
        return wire

    client = make_client(wrap)
    if recorder is not None:
        recorder.api_url = client.api_url
    setup = replace(setup, per_second=client.pacer.per_second, per_hour=client.pacer.per_hour)
    tap = Tap(client)
    report = Report()
    try:
        report.checks, facts = run_checks(setup, tap, wires[0], clock.now())
        workspace = facts.workspace if facts.kind else None
        if workspace and options.cleanup:
            if confirm(f"Delete every project `doctor --live` left in {workspace['name']}?"):
                report.cleanup = sweep(tap, workspace["id"], clock.now(), everything=True)
        elif workspace and options.live:
            _live(tap, workspace, clock, options, report, confirm, say, key_factory, recorder)
    finally:
        report.calls = sum(w.requests for w in wires)
        report.seconds = clock.monotonic() - began
        if recorder is not None:
            _write(recorder, report, clock)
    return report


def _write(recorder: Recorder, report: Report, clock: Clock) -> None:
    try:
        report.cassettes = [str(p) for p in recorder.close(clock.now())]
    except ScrubError as exc:
        report.recording_error = f"the recording was not written: {exc}"


def _live(tap: Tap, workspace: dict, clock: Clock, options: Options, report: Report, confirm,
          say, key_factory, recorder: Recorder | None) -> None:
    run = LiveRun(tap, workspace["id"], clock, holder=options.holder, say=say,
                  key_factory=key_factory, poll_interval=options.poll_interval,
                  deploy_timeout=options.deploy_timeout,
                  on_step=recorder.section if recorder else None)
    question = (f"Create the throwaway project {run.name} in {workspace['name']}? It gets "
                "Postgres, Redis and a gateway (LuthienResearch/luthien-proxy@main), is deployed "
                "three times, scheduled for deletion and restored, then deleted: a few minutes "
                "and a few cents of Railway usage.")
    if not confirm(question):
        say("Nothing created.")
        return
    report.project = run.name
    if recorder is not None:
        recorder.section("live-leftovers")
    before = Cleanup()
    try:
        with interrupts_as_keyboard(say):
            before = sweep(tap, workspace["id"], clock.now(), everything=False)
            run.execute()
    except KeyboardInterrupt:
        report.interrupted = True
        say("Interrupted: cleaning up")
    finally:
        report.steps = run.steps
        if recorder is not None:
            recorder.section("live-cleanup")
        report.cleanup = _clean_up(run, say)
        report.cleanup.removed[:0] = before.removed
        report.cleanup.scheduled[:0] = before.scheduled
        report.cleanup.left[:0] = before.left
        report.cleanup.skipped[:0] = before.skipped


def _clean_up(run: LiveRun, say) -> Cleanup:
    with shielded(say):
        try:
            return run.clean_up()
        except KeyboardInterrupt:
            return Cleanup(left=[f"{run.name}: clean-up abandoned (Ctrl-C); run "
                                 "`saas-infra doctor --cleanup`"])
