"""The fleet lock: at most one saas-infra pass acts on a Railway workspace at a time (plus the
sandbox's file lock). Railway has no locks and no compare-and-set (two writes to one field both
succeed; the last stays), so the lock is a lease in the description of one long-lived project per
workspace, `saas-infra-control`, taken by timed mutual exclusion (Fischer's algorithm): read it,
write a claim, wait a settle time, read it back; a claim slower than the settle time is not
trusted. It costs 4 calls on a free lock and leaves nothing behind. No lock write is retried
blindly: after a lost answer the lock is read again, and written again only while the lease is
still the one the write was meant for (free_lease).

Why there: a project per pass (as before) leaves a deleted project in Railway's listings for
every pass and fails at the plan's project limit; tickets as services leave deleted services
listed; a variable's value may read back masked (null) or sealed; a git ref guards one repository
only and needs push rights. README "The fleet lock" has the protocol, the measured costs and the
residual risk. Nothing here prints or reads manifests; messages go to a callback.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from filelock import FileLock, Timeout

from saas_infra.clock import Clock, format_time, parse_time
from saas_infra.errors import (
    CooldownError,
    LockHeldError,
    LockLostError,
    NotFoundError,
    RailwayError,
    RateLimitedError,
    TransientError,
)
from saas_infra.marker import mark_fields
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import Observed
from saas_infra.railway.retry import took_no_effect

CONTROL_PROJECT = "saas-infra-control"
CONTROL_KIND = "-control"  # its mark: [saas-infra-control …]
LEGACY_TICKET = "saas-infra-lock"  # earlier versions made one such project per acting pass
DEFAULT_TTL = 600.0  # a lease nobody renewed for this long belongs to a pass that died
DEFAULT_TIMEOUT = 900.0  # longer than a lease: by default a pass outwaits a dead holder
# Between writing a claim and reading it back; also the longest a claim may take from its read
# to its write's answer. A claim that took longer may have overwritten a pass that had already
# confirmed its own, so it is not trusted (see _attempt).
SETTLE = 3.0
CHECK_EVERY = 30.0  # a holder reads its lease back at least this often (between tenant steps)
_COOLDOWN_WAIT = 30.0  # "Endpoint too recently updated" says not how long; tens of seconds
HEARTBEAT = 1.0  # real seconds between the background thread's looks; it calls Railway when due
_FIRST_POLL, _MAX_POLL = 1.0, 15.0  # waiting: short passes are noticed fast, long ones cheaply
_FREE_TRIES = 4  # writes of `free` before giving up (the lease then expires by itself)
_LEGACY_MARK = "[saas-infra-lock "
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/@#+-]+")
_ABOUT = (
    "saas-infra control project: the fleet lock of this workspace is kept in this description. "
    "Keep this project, and leave its description to saas-infra; `saas-infra unlock` shows "
    "the lock."
)
SANDBOX_LOCK_FILE = "sandbox.lock"

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Lease:
    """One pass's hold on the lock, as the control project's description records it."""

    holder: str
    nonce: str  # tells apart two passes with the same holder name
    since: datetime
    expires: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def render(self) -> str:
        return (f"holder={self.holder} nonce={self.nonce} since={format_time(self.since)} "
                f"expires={format_time(self.expires)}")

    def to_dict(self, now: datetime) -> dict:
        return {"holder": self.holder, "since": format_time(self.since),
                "expires": format_time(self.expires), "expired": self.expired(now)}

    def describe(self, now: datetime) -> str:
        state = "expired" if self.expired(now) else "expires"
        return f"holder {self.holder}, {state} {format_time(self.expires)}"


def control_description(lease: Lease | None) -> str:
    """The control project's whole description: the lease, or `free` (always the same text)."""
    return f"{_ABOUT} [saas-infra-control {lease.render() if lease else 'free'}]"


def parse_lease(description: str | None) -> Lease | None:
    """The lease in a control project's description; None when free (or the text is mangled)."""
    fields = mark_fields(description, CONTROL_KIND) or {}
    if not fields.get("holder") or not fields.get("nonce"):
        return None
    try:
        return Lease(fields["holder"], fields["nonce"], parse_time(fields["since"]),
                     parse_time(fields["expires"]))
    except (KeyError, ValueError):
        return None


def find_control(nodes: Iterable[dict]) -> dict | None:
    """The control project among listed projects (id, name, description, createdAt, deletedAt).
    Should two exist (two first passes raced to make it), the oldest counts, the same for all."""
    return min(find_controls(nodes), key=_creation_order, default=None)


def find_controls(nodes: Iterable[dict]) -> list[dict]:
    """Every live control project among listed projects."""
    return [node for node in nodes
            if node.get("name") == CONTROL_PROJECT and not node.get("deletedAt")
            and mark_fields(node.get("description"), CONTROL_KIND) is not None]


def _creation_order(node: dict) -> tuple:
    created = parse_time(node["createdAt"]) if node.get("createdAt") else None
    return (created is None, created or datetime.max.replace(tzinfo=UTC), node["id"])


def control_in(observed: Observed | None) -> str | None:
    """The control project's id from a pass's own fleet listing (railway.observed.Observed), so
    that taking the lock costs no listing of its own; None when not there or not sure."""
    if observed is None or not observed.complete:
        return None
    found = find_control(
        {"id": p.id, "name": p.name, "description": p.description,
         "createdAt": p.created_at and format_time(p.created_at), "deletedAt": p.deleted_at}
        for p in observed.projects)
    return found["id"] if found else None


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

    While held, `check()` (between tenant steps) and a daemon thread read the lease back every
    `check_every` seconds and renew it when a third of it is left, so only a dead process lets it
    expire. Once the lease is lost (expired, taken over, or broken with `unlock --force`), `check()`
    raises LockLostError, and so does leaving the `with` block.
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
        settle: float = SETTLE,
        check_every: float = CHECK_EVERY,
        control_id: str | None = None,
    ) -> None:
        self.client = client
        self.workspace_id = workspace_id
        self.clock = clock
        self.holder = holder or default_holder()
        self.ttl = ttl
        self.timeout = timeout
        self.notify = notify
        self.heartbeat = heartbeat
        self.settle = settle
        self.check_every = check_every
        self.control_id = control_id  # known from the pass's own listing, else found on acquire
        self.nonce = secrets.token_hex(6)
        self.lease: Lease | None = None
        self.lost: str | None = None
        self._claimed = False  # a claim of ours may stand on Railway, not yet confirmed
        self._looked = 0.0  # clock.monotonic() of the last read that showed the lease ours
        self._renew_at = 0.0  # after a renewal Railway refused or left unanswered, not before
        self._told: set[str] = set()
        self._mutex = threading.Lock()  # the heartbeat, the appliers' checks and release()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        lost = self.release()
        if lost and exc_type is None:
            raise lost_error(lost, "another pass may have acted at the same time: run "
                             "`saas-infra plan` to check")

    # --- acquiring --------------------------------------------------------------------------

    def acquire(self) -> Lease:
        deadline = self.clock.monotonic() + self.timeout
        poll = _FIRST_POLL
        try:
            if self.control_id is None:
                self.control_id = self._locate()
            while True:
                other, pause = (None, None) if self.lease else self._attempt()
                if other is None:
                    assert self.lease is not None  # no other holder: the lease is ours
                    self._start_heartbeat()
                    return self.lease
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    raise held_error(other, self.clock.now(), mine=other.nonce == self.nonce)
                if other.nonce != self.nonce:
                    self._say_once(
                        f"wait:{other.nonce}",
                        f"Waiting for the fleet lock ({other.describe(self.clock.now())}); "
                        f"giving up in {remaining:.0f} s",
                    )
                self.clock.sleep(min(pause or poll, remaining))
                poll = poll if pause else min(poll * 2, _MAX_POLL)
        except BaseException:  # Ctrl-C too: a claim left standing would block all for a lease
            self._withdraw()
            raise

    @property
    def _control(self) -> str:
        if self.control_id is None:  # acquire() finds or makes it before any read or write
            raise NotFoundError(f"the control project {CONTROL_PROJECT} is not known yet",
                                operation="LockRead")
        return self.control_id

    def _attempt(self) -> tuple[Lease | None, float | None]:
        """One round: read; when free, claim, settle, read back. Returns (None, None) when the
        lock is ours, (holder's lease, None) to wait for it, (our claim, pause) after a claim
        Railway refused or that was too slow to trust."""
        started = self.clock.monotonic()
        try:
            current = self._read()
        except NotFoundError:  # the control project was deleted: find or make it again
            self.control_id = self._locate()
            if self.lease:
                return None, None
            started = self.clock.monotonic()
            current = self._read()
        now = self.clock.now()
        if current and current.nonce != self.nonce:
            self._claimed = False  # whatever we claimed before is gone
            if not current.expired(now):
                return current, None
            # Its holder stopped renewing: it died, or lost its way to Railway for a whole lease.
            self._say_once(
                f"expired:{current.nonce}",
                f"The fleet lock of {current.holder} expired at {format_time(current.expires)} "
                "without being released (its pass probably died); it no longer counts",
            )
        return self._claim(Lease(self.holder, self.nonce, now, now + timedelta(seconds=self.ttl)),
                           started)

    def _claim(self, claim: Lease, started: float) -> tuple[Lease | None, float | None]:
        """Write the claim (read at `started`), settle, read it back."""
        self._claimed = True
        try:
            ops.lock_write(self.client, self._control, control_description(claim), claim=True)
        except TransientError as exc:
            if not took_no_effect(exc):
                return self._too_slow(claim, f"its answer was lost ({exc})")
            # Refused (a 429, a cooldown): nothing was written. Read again before writing again.
            return claim, self._refused(exc)
        took = self.clock.monotonic() - started
        if took >= self.settle:
            return self._too_slow(claim, f"it took {took:.1f} s, not less than {self.settle:g} s")
        self.clock.sleep(self.settle)
        back = self._read()
        if back is not None and back.nonce == self.nonce:  # as Railway holds it
            self.lease, self._claimed, self._looked = back, False, self.clock.monotonic()
            return None, None
        self._claimed = False
        if back is None:  # a free landed over it (a holder's late release, `unlock --force`)
            self._say("The fleet lock was freed over this pass's claim: claiming again")
            return claim, _FIRST_POLL
        self._say(f"Another pass took the fleet lock first ({back.holder})")
        return back, None

    def _refused(self, error: TransientError) -> float:
        """How long to wait after Railway refused a claim, said as the client says its retries."""
        return _refusal_pause(error, ops.LOCK_CLAIM, self._say)

    def _too_slow(self, claim: Lease, why: str) -> tuple[Lease, float]:
        """A claim that may have landed long after its read: another pass may have read the lock
        free, confirmed its own claim, and then been overwritten by ours. Wait until such a pass
        has looked again (and stopped), then claim afresh."""
        pause = self.check_every + self.settle
        self._say(f"The fleet lock's claim cannot be trusted ({why}): claiming again in "
                  f"{pause:g} s")
        return claim, pause

    def _read(self) -> Lease | None:
        node = ops.lock_read(self.client, self._control)
        if node.get("deletedAt"):
            raise NotFoundError(f"the control project {CONTROL_PROJECT} is being deleted",
                                operation="LockRead")
        return parse_lease(node.get("description"))

    def _locate(self) -> str:
        """The control project's id: listed (one light page per 100 projects), or made once,
        with this pass's claim already in it."""
        started = self.clock.monotonic()
        found = find_control(ops.project_list(self.client, self.workspace_id))
        return found["id"] if found else self._create_control(started)

    def _create_control(self, started: float) -> str:
        """Make the control project with our claim in its description: the listing that found
        none was the read, the create is the claim, and the listing after the settle time the
        read-back. Two first passes each make one; both then list both and keep the oldest."""
        now = self.clock.now()
        claim = Lease(self.holder, self.nonce, now, now + timedelta(seconds=self.ttl))
        created, lost = None, None
        self._claimed = True
        try:
            created = ops.project_create(
                self.client, name=CONTROL_PROJECT, description=control_description(claim),
                workspace_id=self.workspace_id,
            )
            self.control_id = created["id"]  # until the listing says which one counts
        except TransientError as exc:
            lost = exc  # Railway may have made it before the answer was lost: the listing tells
        except RailwayError as exc:  # e.g. a workspace at its plan's project limit
            exc.message = (f"could not create {CONTROL_PROJECT}, the project that holds the fleet "
                           f"lock: {exc.message}")
            raise
        took = self.clock.monotonic() - started
        self.clock.sleep(self.settle)
        nodes = ops.project_list(self.client, self.workspace_id)
        found = find_control(nodes)
        if found is None:
            what = (f"created the fleet lock's control project {CONTROL_PROJECT}" if created else
                    f"the answer to creating the fleet lock's control project {CONTROL_PROJECT} "
                    f"was lost ({lost})")
            raise RailwayError(f"{what}, but Railway does not list it", operation="ProjectList")
        for node in find_controls(nodes):  # ours, when another pass's is older: whether or not
            lease = parse_lease(node.get("description"))  # we heard back from Railway
            if node["id"] != found["id"] and lease is not None and lease.nonce == self.nonce:
                _delete_quietly(self.client, node["id"])
        back = parse_lease(found.get("description"))
        if created and back is not None and back.nonce == self.nonce and took < self.settle:
            self.lease, self._claimed, self._looked = back, False, self.clock.monotonic()
        return found["id"]

    def _withdraw(self) -> None:
        """Giving up with a claim of ours standing (too slow to trust, or an error or Ctrl-C
        after it): free the lock again if the claim is still there, so nobody waits for it to
        expire."""
        if not (self._claimed or self.lease) or self.control_id is None:
            return
        self._claimed, self.lease = False, None
        try:
            current = self._read()
            if current is not None and current.nonce == self.nonce:
                self._free()
        except RailwayError:
            pass  # it expires by itself

    # --- holding ------------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if not self.heartbeat:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="saas-infra-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            self.renew_if_due()

    def check(self) -> None:
        """Between tenant steps: raise LockLostError once the lease is lost. Reads it back when
        the last look is `check_every` seconds old, and renews it when due."""
        self.renew_if_due()
        if self.lost:
            raise lost_error(self.lost, "it stopped before its next step; another pass may be "
                             "acting on the fleet now")

    def renew_if_due(self) -> bool:
        """Look at the lease when due, renew it when a third of it is left; True when renewed.
        A Railway error leaves the lease as it was: a later look tries again (reading first, so a
        renewal whose answer was lost is never written over a lease that is not ours), until
        expiry."""
        with self._mutex:
            lease = self.lease
            if lease is None or self.lost:
                return False
            now = self.clock.now()
            if lease.expired(now):
                self.lost = f"its lease expired at {format_time(lease.expires)} before renewal"
                return False
            renew = now >= lease.expires - timedelta(seconds=self.ttl / 3)
            if renew and self.clock.monotonic() < self._renew_at:
                renew = False
            if not renew and self.clock.monotonic() - self._looked < self.check_every:
                return False
            try:
                if not self._still_ours():
                    return False
                if not renew:
                    return False
                renewed = replace(lease, expires=now + timedelta(seconds=self.ttl))
                ops.lock_write(self.client, self._control, control_description(renewed))
            except TransientError as exc:
                cooldown = _COOLDOWN_WAIT if isinstance(exc, CooldownError) else _MAX_POLL
                self._renew_at = self.clock.monotonic() + (exc.retry_after or cooldown)
                return False
            except RailwayError:
                return False
            self.lease = renewed
            return True

    def _still_ours(self) -> bool:
        """Read the lease back; else record how the lock was lost. Caller holds the mutex."""
        try:
            current = self._read()
        except NotFoundError:
            self.lost = f"the control project {CONTROL_PROJECT} was deleted"
            return False
        if current is None:
            self.lost = "its lease was removed (`saas-infra unlock --force`)"
            return False
        if current.nonce != self.nonce:
            self.lost = f"{current.holder} holds it now"
            return False
        self._looked = self.clock.monotonic()
        return True

    # --- releasing ------------------------------------------------------------------------------

    def release(self) -> str | None:
        """Free the lock; returns why it was lost while held, or None. One write, after a read
        only when the last look is `check_every` seconds old: never free another pass's lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._mutex:
            lease, self.lease = self.lease, None
            if lease is None or self.lost:
                return self.lost
            if lease.expired(self.clock.now()):
                self.lost = f"its lease expired at {format_time(lease.expires)} before the end"
                return self.lost
            try:
                stale = self.clock.monotonic() - self._looked >= self.check_every
                if stale and not self._still_ours():
                    return self.lost
                self._free()
            except RailwayError as exc:
                self._say(f"Could not release the fleet lock ({exc}); it expires at "
                          f"{format_time(lease.expires)}")
            return self.lost

    def _free(self) -> None:
        free_lease(self.client, self._control, self.nonce, sleep=self.clock.sleep,
                   say=self._say)

    # --- helpers ----------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if self.notify is not None:
            self.notify(text)

    def _say_once(self, key: str, text: str) -> None:
        if key not in self._told:
            self._told.add(key)
            self._say(text)


def free_lease(client: ops.Executor, control_id: str, nonce: str, *,
               sleep: Callable[[float], None], say: Notify | None = None) -> None:
    """Write `free` over the lease with `nonce`. Each write is sent once: after a failure the
    lock is read again and freed again only while that lease is still there. Sent again blindly,
    a free that landed with its answer lost could free the lease of a pass that took the lock in
    between. Raises RailwayError when the lock could not be freed (the lease then expires)."""
    for attempt in range(1, _FREE_TRIES + 1):
        try:
            ops.lock_write(client, control_id, control_description(None))
            return
        except TransientError as exc:
            if attempt == _FREE_TRIES:
                raise
            if took_no_effect(exc):
                sleep(_refusal_pause(exc, ops.LOCK_WRITE, say))
            else:
                _tell(say, f"Railway did not answer the fleet lock's free ({exc}): reading the "
                      "lock again")
        node = ops.lock_read(client, control_id)
        current = None if node.get("deletedAt") else parse_lease(node.get("description"))
        if current is None or current.nonce != nonce:
            return  # freed (the write landed), or another pass holds it now: not ours to free


def _refusal_pause(error: TransientError, operation: ops.Operation, say: Notify | None) -> float:
    """How long to wait after Railway refused a lock write, said as the client says its
    retries."""
    cooldown = isinstance(error, CooldownError)
    pause = error.retry_after or (_COOLDOWN_WAIT if cooldown else _FIRST_POLL)
    if cooldown:
        what = 'Railway says "Endpoint too recently updated"'
    elif isinstance(error, RateLimitedError):
        what = "Railway rate limit"
    else:
        what = f"Railway did not take the write ({type(error).__name__})"
    _tell(say, f"{what}: waiting {pause:.0f} s ({operation.name})")
    return pause


def _tell(say: Notify | None, text: str) -> None:
    if say is not None:
        say(text)


def _delete_quietly(client: ops.Executor, project_id: str) -> None:
    try:
        ops.project_delete(client, project_id)
    except RailwayError:
        pass  # harmless where it is: nobody uses a control project that is not the oldest


def held_error(holder: Lease, now: datetime, *, mine: bool = False) -> LockHeldError:
    if mine:
        error = LockHeldError("could not take the fleet lock: Railway refused or delayed its "
                              "claim until the wait ran out")
        error.hint = "give --lock-timeout more seconds"
        return error
    error = LockHeldError(
        f"another saas-infra pass holds the fleet lock ({holder.describe(now)})"
    )
    error.hint = (
        "wait for it to finish, or give --lock-timeout more seconds; if that pass is dead, "
        "`saas-infra unlock --force` removes its lock (it also expires by itself)"
    )
    return error


def lost_error(why: str, what_now: str) -> LockLostError:
    error = LockLostError(f"the fleet lock was lost during this pass ({why}); {what_now}")
    error.hint = "`saas-infra unlock` shows who holds the lock"
    return error


class LockedFleet(Protocol):
    """What the lock needs of a reconcile.Fleet (which sits above this module)."""

    client: ops.Executor
    clock: Clock
    lock_timeout: float
    lock_notify: Notify | None

    def workspace(self) -> str: ...


def hold(fleet: LockedFleet, observed: Observed | None = None) -> FleetLock:
    """The lock for a reconcile.Fleet, to use as `with hold(fleet):`. `observed`, the pass's own
    listing, spares the lock a listing to find its control project."""
    return FleetLock(
        fleet.client, fleet.workspace(), fleet.clock,
        timeout=fleet.lock_timeout, notify=fleet.lock_notify, control_id=control_in(observed),
    )


@dataclass(frozen=True)
class LockState:
    """What `saas-infra unlock` shows: the control project, its lease, and leftovers."""

    control_id: str | None
    lease: Lease | None
    legacy: tuple[str, ...] = ()  # ticket projects an earlier saas-infra left (a dead pass's)


def inspect(client: ops.Executor, workspace_id: str | None) -> LockState:
    """The lock as Railway has it, from one light listing."""
    return lock_state(ops.project_list(client, workspace_id))


def lock_state(nodes: list[dict]) -> LockState:
    """The lock as listed projects (id, name, description, createdAt, deletedAt) show it."""
    control = find_control(nodes)
    legacy = tuple(n["id"] for n in nodes if n.get("name") == LEGACY_TICKET
                   and not n.get("deletedAt") and _LEGACY_MARK in (n.get("description") or ""))
    lease = parse_lease(control["description"]) if control else None
    return LockState(control["id"] if control else None, lease, legacy)


def break_lock(client: ops.Executor, workspace_id: str | None, *,
               sleep: Callable[[float], None], say: Notify | None = None) -> LockState:
    """Free the lock whoever holds it, and remove earlier versions' tickets (for `saas-infra
    unlock --force`); returns what it found and removed. Only the lease it found is freed: one
    that a waiting pass takes meanwhile stays."""
    state = inspect(client, workspace_id)
    if state.lease is not None and state.control_id is not None:
        free_lease(client, state.control_id, state.lease.nonce, sleep=sleep, say=say)
    for project_id in state.legacy:
        try:
            ops.project_delete(client, project_id)
        except NotFoundError:
            continue
    return state


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
