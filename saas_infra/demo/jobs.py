"""Background jobs for the demo: each verb runs on a worker thread, never on the event loop, and
the page polls for its progress. One job per tenant at a time.

Keys a create returns are handed out once, in the first view of the finished job, then dropped.
Nothing here knows HTTP, and no log line carries a key.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any

from saas_infra.errors import SaasInfraError

log = logging.getLogger("saas_infra.demo")

RUNNING, DONE, FAILED = "running", "done", "failed"
DEPLOYMENT_LINE = "gateway deployment: "


class TenantBusyError(Exception):
    """Another job is already working on this tenant."""


class JobFailed(Exception):
    """A verb ran but did not reach its goal; the message says why."""


@dataclass
class Job:
    id: str
    kind: str
    tenant: str
    started: float = field(default_factory=time.monotonic)
    state: str = RUNNING
    lines: list[str] = field(default_factory=list)
    message: str = ""
    finished: float | None = None
    keys: dict[str, str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, tenant: str, step: str, state: str) -> None:
        """The reconcile pass's progress callback: (tenant, step, state)."""
        if step != "done":
            self.say(f"{step}: {state}")

    def deployment(self, status: str) -> None:
        """wait_for_gateway's on_status: one line that keeps its place and changes."""
        with self._lock:
            if self.lines and self.lines[-1].startswith(DEPLOYMENT_LINE):
                self.lines[-1] = DEPLOYMENT_LINE + status
            else:
                self.lines.append(DEPLOYMENT_LINE + status)

    def say(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def finish(self, state: str, message: str) -> None:
        with self._lock:
            self.state, self.message, self.finished = state, message, time.monotonic()

    def view(self) -> dict[str, Any]:
        """What the page sees; the keys, if any, only this once."""
        with self._lock:
            data = {
                "id": self.id, "kind": self.kind, "tenant": self.tenant, "state": self.state,
                "lines": list(self.lines), "message": self.message,
                "seconds": round((self.finished or time.monotonic()) - self.started),
            }
            if self.keys is not None and self.state != RUNNING:
                data["keys"], self.keys = self.keys, None
            return data


Work = Callable[[Job], str]  # runs the verb; returns the success message or raises


class Jobs:
    """The registry: starts work on a thread pool and keeps the most recent jobs for the page."""

    def __init__(self, workers: int = 4, keep: int = 20) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="demo-job")
        self._keep = keep
        self._jobs: dict[str, Job] = {}
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self._current = threading.local()  # the job a worker thread is running

    def start(self, kind: str, tenant: str, work: Work) -> Job:
        with self._lock:
            if tenant in self._busy():
                raise TenantBusyError(f"an operation on {tenant} is still running")
            job = Job(secrets.token_hex(8), kind, tenant)
            self._jobs[job.id] = job
            self._forget_old()
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._pool.submit(self._run, job, work))
        log.info("%s %s: started (job %s)", kind, tenant, job.id)
        return job

    def say_current(self, text: str) -> None:
        """A message from deep inside a verb (the fleet lock's) for the job this thread runs."""
        job = getattr(self._current, "job", None)
        if job is not None:
            job.say(text)
        log.info("%s", text)

    def _run(self, job: Job, work: Work) -> None:
        self._current.job = job
        try:
            job.finish(DONE, work(job))
        except (JobFailed, SaasInfraError) as exc:
            hint = getattr(exc, "hint", None)
            job.finish(FAILED, f"{exc} ({hint})" if hint else str(exc))
        except Exception as exc:  # a job must end, whatever happened in it
            log.error("%s %s: unexpected %s", job.kind, job.tenant, type(exc).__name__,
                      exc_info=True)
            job.finish(FAILED, f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self._current.job = None
        log.info("%s %s: %s: %s", job.kind, job.tenant, job.state, job.message)

    def views(self) -> list[dict[str, Any]]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)
        return [job.view() for job in jobs]

    def busy(self) -> set[str]:
        with self._lock:
            return self._busy()

    def _busy(self) -> set[str]:
        return {job.tenant for job in self._jobs.values() if job.state == RUNNING}

    def _forget_old(self) -> None:
        done = sorted((j for j in self._jobs.values() if j.state != RUNNING),
                      key=lambda j: j.started)
        for job in done[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[job.id]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every job started so far has ended; False on timeout."""
        with self._lock:
            futures = list(self._futures)
        return not wait_futures(futures, timeout=timeout).not_done

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
