"""The fleet lock: at most one saas-infra pass acts on a Railway workspace at a time (plus the
sandbox's file lock). Railway has no locks or compare-and-set, but it orders what it creates: a
pass creates a ticket, an empty `saas-infra-lock` project naming its holder and lease, and the
oldest unexpired ticket holds the lock (README "Running in CI" has the protocol). Nothing here
prints or reads manifests; messages go to a callback.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Self

from filelock import FileLock, Timeout

from saas_infra.clock import Clock, format_time, parse_time
from saas_infra.errors import LockHeldError, NotFoundError, RailwayError, TransientError
from saas_infra.railway import operations as ops

LOCK_PROJECT = "saas-infra-lock"
DEFAULT_TTL = 600.0  # a lease nobody renewed for this long belongs to a pass that died
DEFAULT_TIMEOUT = 900.0  # longer than a lease: by default a pass outwaits a dead holder
HEARTBEAT = 1.0  # real seconds between checks of the lease; it is renewed only when due
_FIRST_POLL, _MAX_POLL = 1.0, 15.0  # waiting: short passes are noticed fast, long ones cheaply
_MARK = re.compile(r"\[saas-infra-lock (?P<body>[^\]]*)\]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/@#+-]+")
_ABOUT = (
    "saas-infra fleet lock: a reconcile pass is acting on this workspace. It removes this "
    "project when it ends; `saas-infra unlock --force` breaks a stuck one."
)
SANDBOX_LOCK_FILE = "sandbox.lock"

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Ticket:
    """One pass's claim on the lock, as Railway lists it."""

    project_id: str
    holder: str
    nonce: str  # tells apart two passes with the same holder name
    since: datetime | None
    expires: datetime
    created_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def order(self) -> tuple:
        """Creation order as Railway records it; the id breaks a tie the same way for everyone."""
        return (self.created_at is None, self.created_at or self.expires, self.project_id)

    def to_dict(self, now: datetime) -> dict:
        return {"holder": self.holder, "project_id": self.project_id,
                "since": format_time(self.since) if self.since else None,
                "expires": format_time(self.expires), "expired": self.expired(now)}

    def describe(self, now: datetime) -> str:
        state = "expired" if self.expired(now) else "expires"
        return f"holder {self.holder}, {state} {format_time(self.expires)}"


def ticket_description(holder: str, nonce: str, since: datetime, expires: datetime) -> str:
    fields = f"holder={holder} nonce={nonce} since={format_time(since)} expires={format_time(expires)}"
    return f"{_ABOUT} [saas-infra-lock {fields}]"


def parse_ticket(node: dict) -> Ticket | None:
    """A ticket from a listed project; None for anything else (or a mangled description)."""
    if node.get("name") != LOCK_PROJECT or node.get("deletedAt"):
        return None
    match = _MARK.search(node.get("description") or "")
    if not match:
        return None
    fields = dict(item.split("=", 1) for item in match.group("body").split() if "=" in item)
    try:
        expires = parse_time(fields["expires"])
        since = parse_time(fields["since"]) if "since" in fields else None
        created = parse_time(node["createdAt"]) if node.get("createdAt") else None
    except (KeyError, ValueError):
        return None
    if not fields.get("holder") or not fields.get("nonce"):
        return None
    return Ticket(node["id"], fields["holder"], fields["nonce"], since, expires, created)


def list_tickets(client: ops.Executor, workspace_id: str | None) -> list[Ticket]:
    """Every ticket in the workspace, oldest first, expired ones included."""
    tickets = [parse_ticket(node) for node in ops.project_list(client, workspace_id)]
    return sorted((t for t in tickets if t is not None), key=Ticket.order)


def default_holder(env: Mapping[str, str] | None = None) -> str:
    """Who a person should go and ask: the CI run, or user@host:pid."""
    env = os.environ if env is None else env
    if env.get("SAAS_INFRA_LOCK_HOLDER"):
        who = env["SAAS_INFRA_LOCK_HOLDER"]
    elif env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_RUN_ID"):
        repo = env.get("GITHUB_REPOSITORY", "unknown")
        who = f"github:{repo}/actions/runs/{env['GITHUB_RUN_ID']}"
    else:
        who = f"{_user()}@{socket.gethostname()}:{os.getpid()}"
    return _UNSAFE.sub("-", who)[:120] or "unknown"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return "unknown"


class FleetLock:
    """Take with `with FleetLock(...)`: waits up to `timeout`, renews while held, releases.

    While held, a daemon thread renews the lease when a third of it is left, so only a dead
    process lets it expire. If the lease is lost anyway (expired and taken over, or broken with
    `unlock --force`), leaving the `with` block raises LockHeldError.
    """

    def __init__(
        self,
        client: ops.Executor,
        workspace_id: str | None,
        clock: Clock,
        *,
        holder: str | None = None,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        notify: Notify | None = None,
        heartbeat: float | None = HEARTBEAT,
    ) -> None:
        self.client = client
        self.workspace_id = workspace_id
        self.clock = clock
        self.holder = holder or default_holder()
        self.ttl = ttl
        self.timeout = timeout
        self.notify = notify
        self.heartbeat = heartbeat
        self.nonce = secrets.token_hex(6)
        self.ticket: Ticket | None = None
        self.lost: str | None = None
        self._told: set[str] = set()
        self._mutex = threading.Lock()  # the heartbeat thread and release() both write the ticket
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        lost = self.release()
        if lost and exc_type is None:
            raise LockHeldError(
                f"the fleet lock was lost during this pass ({lost}); another pass may have acted "
                "at the same time: run `saas-infra plan` to check"
            )

    # --- acquiring --------------------------------------------------------------------------

    def acquire(self) -> Ticket:
        deadline = self.clock.monotonic() + self.timeout
        poll = _FIRST_POLL
        while True:
            winner = self._attempt()
            if winner.nonce == self.nonce:
                self.ticket = winner
                self._start_heartbeat()
                return winner
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise held_error(winner, self.clock.now())
            self._say_once(
                f"wait:{winner.project_id}",
                f"Waiting for the fleet lock ({winner.describe(self.clock.now())}); "
                f"giving up in {remaining:.0f} s",
            )
            self.clock.sleep(min(poll, remaining))
            poll = min(poll * 2, _MAX_POLL)

    def _attempt(self) -> Ticket:
        """One round: list, claim when nobody holds it, drop our own losing tickets."""
        live = self._live_tickets()
        if not live:
            live = self._claim()
        winner = live[0]
        for ticket in live[1:]:
            if ticket.nonce == self.nonce:  # a lost race, or a create that was retried
                self._delete(ticket)
                if winner.nonce != self.nonce:
                    self._say(f"Another pass took the fleet lock first ({winner.holder})")
        return winner

    def _live_tickets(self) -> list[Ticket]:
        now = self.clock.now()
        live = []
        for ticket in list_tickets(self.client, self.workspace_id):
            if not ticket.expired(now):
                live.append(ticket)
                continue
            # Its holder stopped renewing: it died, or lost its way to Railway for a whole lease.
            self._say_once(
                f"expired:{ticket.project_id}",
                f"The fleet lock of {ticket.holder} expired at {format_time(ticket.expires)} "
                "without being released (its pass probably died); it no longer counts",
            )
            self._delete(ticket)
        return live

    def _claim(self) -> list[Ticket]:
        now = self.clock.now()
        description = ticket_description(
            self.holder, self.nonce, now, now + timedelta(seconds=self.ttl)
        )
        try:
            ops.project_create(
                self.client, name=LOCK_PROJECT, description=description,
                workspace_id=self.workspace_id,
            )
        except TransientError:
            # Railway may have made it before the answer was lost: the listing tells.
            live = self._live_tickets()
            if not any(t.nonce == self.nonce for t in live):
                raise
            return live
        live = self._live_tickets()
        if not live:
            raise RailwayError(
                f"created the fleet lock project {LOCK_PROJECT}, but Railway does not list it",
                operation="ProjectList",
            )
        return live

    # --- holding ------------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if not self.heartbeat:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="saas-infra-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                self.renew_if_due()
            except RailwayError:
                pass  # Railway unreachable for now: try again on the next beat, until expiry

    def renew_if_due(self) -> bool:
        """Renew the lease when a third of it is left; True when it was renewed."""
        with self._mutex:
            ticket = self.ticket
            if ticket is None or self.lost:
                return False
            now = self.clock.now()
            if now < ticket.expires - timedelta(seconds=self.ttl / 3):
                return False
            if ticket.expired(now):
                self.lost = f"its lease expired at {format_time(ticket.expires)} before renewal"
                return False
            current = self._find_own(ticket)
            if current is None:
                return False
            expires = now + timedelta(seconds=self.ttl)
            description = ticket_description(self.holder, self.nonce, ticket.since or now, expires)
            ops.project_set_description(self.client, ticket.project_id, description)
            self.ticket = replace(ticket, expires=expires)
            return True

    def _find_own(self, ticket: Ticket) -> Ticket | None:
        """Our ticket, still the oldest live one; else record how the lock was lost."""
        live = [t for t in list_tickets(self.client, self.workspace_id)
                if not t.expired(self.clock.now())]
        if not any(t.project_id == ticket.project_id and t.nonce == self.nonce for t in live):
            self.lost = "its ticket was removed (`saas-infra unlock --force`, or taken over)"
            return None
        if live[0].project_id != ticket.project_id:
            self.lost = f"{live[0].holder} holds it now"
            return None
        return ticket

    # --- releasing ------------------------------------------------------------------------------

    def release(self) -> str | None:
        """Remove our ticket; returns why the lock was lost while held, or None."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._mutex:
            ticket, self.ticket = self.ticket, None
            if ticket is None:
                return self.lost
            try:
                ops.project_delete(self.client, ticket.project_id)
            except NotFoundError as exc:
                if exc.attempts <= 1:  # after a retry, "not found" is our own first delete
                    self.lost = self.lost or "its ticket was gone when the pass ended"
            except RailwayError as exc:
                self._expire_instead(ticket, exc)
            return self.lost

    def _expire_instead(self, ticket: Ticket, error: RailwayError) -> None:
        """A ticket Railway will not delete (a 2FA account, say) is marked expired instead."""
        now = self.clock.now()
        try:
            ops.project_set_description(
                self.client, ticket.project_id,
                ticket_description(self.holder, self.nonce, ticket.since or now, now),
            )
            self._say(f"Could not remove the fleet lock project ({error}); marked it released")
        except RailwayError:
            self._say(f"Could not release the fleet lock ({error}); it expires at "
                      f"{format_time(ticket.expires)}")

    # --- helpers ----------------------------------------------------------------------------

    def _delete(self, ticket: Ticket) -> None:
        try:
            ops.project_delete(self.client, ticket.project_id)
        except NotFoundError:
            pass  # someone else removed it first
        except RailwayError:
            pass  # it no longer counts anyway (expired, or not the oldest): leave it

    def _say(self, text: str) -> None:
        if self.notify is not None:
            self.notify(text)

    def _say_once(self, key: str, text: str) -> None:
        if key not in self._told:
            self._told.add(key)
            self._say(text)


def held_error(winner: Ticket, now: datetime) -> LockHeldError:
    error = LockHeldError(
        f"another saas-infra pass holds the fleet lock ({winner.describe(now)})"
    )
    error.hint = (
        "wait for it to finish, or give --lock-timeout more seconds; if that pass is dead, "
        "`saas-infra unlock --force` removes its lock (it also expires by itself)"
    )
    return error


def hold(fleet) -> FleetLock:
    """The lock for a reconcile.Fleet, to use as `with hold(fleet):`."""
    return FleetLock(
        fleet.client, fleet.workspace(), fleet.clock,
        timeout=fleet.lock_timeout, notify=fleet.lock_notify,
    )


def break_lock(client: ops.Executor, workspace_id: str | None) -> list[Ticket]:
    """Remove every ticket (for `saas-infra unlock --force`); returns those it removed."""
    removed = []
    for ticket in list_tickets(client, workspace_id):
        try:
            ops.project_delete(client, ticket.project_id)
        except NotFoundError:
            continue
        removed.append(ticket)
    return removed


def lock_sandbox(directory: Path, timeout: float) -> FileLock:
    """Hold `directory`/sandbox.lock: every sandbox command rewrites the emulator's whole state
    file, so two at once would lose one's work. The OS frees it if the process dies."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / SANDBOX_LOCK_FILE)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        error = LockHeldError(
            f"another saas-infra command is using the sandbox in {directory}/ "
            f"(waited {timeout:.0f} s)"
        )
        error.hint = "wait for it to finish, or give --lock-timeout more seconds"
        raise error from None
    return lock
