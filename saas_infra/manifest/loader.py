"""Reading tenant manifests from disk: every problem in every file, each with file, line and field.

`load_tenants` is the only way the rest of saas-infra learns the desired state. It refuses what
could hang or mislead (huge files, alias bombs, invalid UTF-8) before parsing, and raises one
ManifestError listing all problems at once. It reads files only; it never writes, and never
decides what an empty folder means (the caller's safety guard does).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from saas_infra.errors import ManifestError, ManifestProblem
from saas_infra.manifest.compose import Composed, compose, describe, dotted
from saas_infra.manifest.fleet import SOURCE_KEYS, inherit
from saas_infra.manifest.models import (
    AUTH_MODES,
    FLEET_MODEL_AT,
    MANIFEST_VERSION,
    MODEL_AT,
    FleetFile,
    TenantManifest,
)

MAX_MANIFEST_BYTES = 256 * 1024
_INHERITS = "inherits from"
FLEET_FILE = "fleet.yaml"  # beside the tenants folder, unless --fleet-file says otherwise
SUFFIXES = (".yaml", ".yml")
Skipped = Callable[[str], None]  # told about each directory entry that is not read, and why

# What YAML itself forbids in a stream (YAML 1.1 §5.1); checked here for an exact line.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass(frozen=True)
class Where:
    """A field's place in a file: the file as shown, its 1-based line, its dotted path."""

    file: str
    line: int | None
    field: str


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest and where it came from. `fingerprint` is the sha256 of the file's bytes,
    so a saved plan can tell whether its tenants changed since it was made. `channel`: the
    release channel whose version the gateway runs (None: it pins its own, or follows a
    branch), so the planner can roll that channel out tenant by tenant."""

    manifest: TenantManifest
    path: Path
    fingerprint: str
    # Where the tenant's `region` is written (the manifest, or the fleet file's tier or
    # defaults): what a pass names when Railway does not know the region.
    region_at: Where | None = None
    channel: str | None = None

    @property
    def name(self) -> str:
        return self.manifest.name


Tenant = LoadedManifest


@dataclass(frozen=True)
class LoadedFleet:
    """A valid fleet file: its model, its fields as YAML gave them (what manifests inherit),
    and the sha256 of its bytes (part of every manifest's fingerprint)."""

    fleet: FleetFile
    path: Path
    defaults: dict[str, Any]
    tiers: dict[str, dict[str, Any]]
    digest: str
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict, compare=False)

    def layers(self, tier: str | None) -> list[dict[str, Any]]:
        return [self.defaults] + ([self.tiers[tier]] if tier in self.tiers else [])


def fleet_path(tenants_dir: Path, fleet_file: Path | None = None) -> Path:
    """Where the fleet file is: the one given, else fleet.yaml beside the tenants folder."""
    return Path(fleet_file) if fleet_file is not None else Path(tenants_dir).parent / FLEET_FILE


def read_fleet(
    tenants_dir: Path, fleet_file: Path | None = None
) -> tuple[LoadedFleet | None, list[ManifestProblem]]:
    """The fleet file, or None when there is none. A file given with --fleet-file must exist;
    the default one is optional (without it manifests stand alone, as before)."""
    path = fleet_path(tenants_dir, fleet_file)
    shown = display_path(path)
    if not path.exists() and fleet_file is None:
        return None, []
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            return None, [_too_big(shown, size)]
        data = path.read_bytes()
    except OSError as exc:
        return None, [
            ManifestProblem(shown, None, "", f"cannot read the fleet file: {exc.strerror or exc}")
        ]
    return parse_fleet(data, shown, path)


def _compose_bytes(data: bytes, shown: str) -> tuple[Composed | None, list[ManifestProblem]]:
    """A YAML file's bytes to values with their lines, or the problems of its text or syntax."""
    text, problem = _decode(data, shown)
    if problem is not None:
        return None, [problem]
    try:
        composed = compose(text)
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(exc, text, shown)]
    problems = [ManifestProblem(shown, line, fld, msg) for line, fld, msg in composed.problems]
    return (None, problems) if problems else (composed, [])


def parse_fleet(
    data: bytes, shown: str, path: Path
) -> tuple[LoadedFleet | None, list[ManifestProblem]]:
    """Validate a fleet file's bytes, with the same file:line:field problems as a manifest's."""
    composed, problems = _compose_bytes(data, shown)
    if composed is None:
        return None, problems
    if composed.empty or not isinstance(composed.value, dict):
        got = "empty" if composed.empty else describe(composed.value)
        message = f"a fleet file must be a mapping of fields (version, defaults, tiers), got {got}"
        return None, [ManifestProblem(shown, composed.lines.get((), 1), "", message)]
    try:
        model = FleetFile.model_validate(composed.value)
    except ValidationError as exc:
        found = validation_problems(exc, shown, composed.lines, fleet=True)
        return None, sorted(found, key=lambda p: p.line or 0)
    value: dict[str, Any] = composed.value
    digest = hashlib.sha256(data).hexdigest()
    return LoadedFleet(model, path, value.get("defaults") or {}, value.get("tiers") or {},
                       digest, composed.lines), []


def display_path(path: Path) -> str:
    """The path as given, made relative to the working directory when it lies inside it."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return str(path)


def load_tenant_file(path: Path, fleet_file: Path | None = None) -> LoadedManifest:
    """Load one manifest (with what it inherits from the fleet file beside its folder, or
    `fleet_file`); raise ManifestError with all of its problems."""
    path = Path(path)
    fleet, problems = read_fleet(path.parent, fleet_file)
    if problems:
        raise ManifestError(problems)
    loaded, problems = _load_file(path, display_path(path), fleet)
    if problems or loaded is None:
        raise ManifestError(problems)
    return loaded


def load_tenants(
    directory: Path, on_skip: Skipped | None = None, fleet_file: Path | None = None
) -> list[LoadedManifest]:
    """Every `*.yaml` / `*.yml` manifest in `directory`, sorted by name. Hidden files are skipped;
    so are entries that look like manifests but cannot be one (a directory, a dangling link, an
    upper-case suffix), each reported to `on_skip` so that none is ignored silently.

    An empty directory gives []; a missing one is an error. Any problem in any file raises
    ManifestError listing all of them.
    """
    loaded, problems = read_tenants(directory, on_skip, fleet_file)
    fleet_problems = [p for p in problems if p.message.startswith(_INHERITS)]
    if fleet_problems:  # the fleet file's own problems say it all; one line per tenant is noise
        problems = [p for p in problems if p not in fleet_problems]
    if problems:
        raise ManifestError(problems)
    return loaded


def read_tenants(
    directory: Path, on_skip: Skipped | None = None, fleet_file: Path | None = None
) -> tuple[list[LoadedManifest], list[ManifestProblem]]:
    """The valid manifests and the problems of the others, for views that must still work while
    one file is broken (`list`, `status`). A tenant with any problem is left out of the first.
    A broken fleet file leaves every tenant out: each inherits from it."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        return [], [
            ManifestProblem(display_path(directory), None, "", f"the tenants directory {what}")
        ]
    fleet, problems = read_fleet(directory, fleet_file)
    files = _manifest_files(directory, on_skip or (lambda _message: None))
    if problems:  # every manifest inherits from it: none can be read
        shown = problems[0].file
        return [], problems + [
            ManifestProblem(display_path(path), None, "",
                            f"{_INHERITS} {shown}, which has problems")
            for path in files
        ]
    loaded: list[LoadedManifest] = []
    for path in files:
        one, found = _load_file(path, display_path(path), fleet)
        problems.extend(found)
        if one is not None:
            loaded.append(one)
    problems.extend(_same_tenant_twice(files))
    broken = {problem.file for problem in problems}
    valid = [m for m in loaded if display_path(m.path) not in broken]
    return sorted(valid, key=lambda m: m.name), problems


def _manifest_files(directory: Path, on_skip: Skipped) -> list[Path]:
    files = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix in SUFFIXES:
            if path.is_file():
                files.append(path)
            else:
                on_skip(f"{display_path(path)}: skipped: {_not_a_file(path)}")
        elif path.suffix.lower() in SUFFIXES:
            on_skip(f"{display_path(path)}: skipped: a manifest's name ends in .yaml or .yml, "
                    f"in lower case; rename it {path.stem}{path.suffix.lower()}")
    return files


def _not_a_file(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "a symbolic link to a file that does not exist"
    if path.is_dir():
        return "a directory, not a manifest"
    return "not a regular file"


def _same_tenant_twice(files: list[Path]) -> list[ManifestProblem]:
    # name must equal the stem, so two files define one tenant only when their stems match
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    problems = []
    for stem, paths in by_stem.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            for path in paths:
                message = f"tenant '{stem}' is defined by more than one file ({names}); keep one"
                problems.append(ManifestProblem(display_path(path), None, "name", message))
    return problems


def _load_file(
    path: Path, shown: str, fleet: LoadedFleet | None = None
) -> tuple[LoadedManifest | None, list[ManifestProblem]]:
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:  # refuse before reading: a manifest is a few hundred bytes
            return None, [_too_big(shown, size)]
        data = path.read_bytes()
    except OSError as exc:
        return None, [
            ManifestProblem(shown, None, "", f"cannot read the file: {exc.strerror or exc}")
        ]
    manifest, problems = parse_manifest(data, shown, stem=path.stem, fleet=fleet)
    if manifest is None:
        return None, problems
    region_at = _region_at(data, shown, manifest, fleet) if manifest.region else None
    return LoadedManifest(manifest, path, _fingerprint(data, fleet), region_at=region_at,
                          channel=following(manifest, fleet)), []


def _region_at(data: bytes, shown: str, manifest: TenantManifest,
               fleet: LoadedFleet | None) -> Where:
    """Which file and line give the manifest its region: its own, else its tier's, else the
    fleet file's defaults (the layers merge in that order)."""
    composed, _ = _compose_bytes(data, shown)
    lines = composed.lines if composed is not None else {}
    if ("region",) in lines or fleet is None:
        return Where(shown, lines.get(("region",)), "region")
    fleet_shown = display_path(fleet.path)
    tier = manifest.tier
    if tier is not None and "region" in fleet.tiers.get(tier, {}):
        path: tuple[str | int, ...] = ("tiers", tier, "region")
    else:
        path = ("defaults", "region")
    return Where(fleet_shown, fleet.lines.get(path), dotted(path))


def following(manifest: TenantManifest, fleet: LoadedFleet | None) -> str | None:
    """The channel whose version `manifest` (as loaded) runs: its channel, unless a pin of its
    own won (then the gateway names another version than the channel's)."""
    if fleet is None or manifest.channel is None:
        return None
    spec = fleet.fleet.channels.get(manifest.channel)
    gateway = manifest.gateway
    if spec is None or (gateway.commit or gateway.image) != spec.version:
        return None
    return manifest.channel


def _fingerprint(data: bytes, fleet: LoadedFleet | None) -> str:
    # With a fleet file the tenant's desired state is both files: a saved plan must notice an
    # edit of either. Without one it stays the file's own sha256.
    if fleet is None:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha256(data + b"\0fleet:" + fleet.digest.encode()).hexdigest()


def _too_big(shown: str, size: int) -> ManifestProblem:
    return ManifestProblem(
        shown, None, "", f"the file is {size} bytes; a manifest may be at most {MAX_MANIFEST_BYTES}"
    )


def parse_manifest(
    data: bytes, shown: str, *, stem: str | None = None, fleet: LoadedFleet | None = None
) -> tuple[TenantManifest | None, list[ManifestProblem]]:
    """Validate a manifest's bytes, with what it inherits from `fleet`. `stem`, when given, is
    the name the manifest must carry."""
    if len(data) > MAX_MANIFEST_BYTES:
        return None, [_too_big(shown, len(data))]
    composed, problems = _compose_bytes(data, shown)
    if composed is None:
        return None, problems
    if composed.empty:
        return None, [
            ManifestProblem(
                shown, 1, "", "the file is empty; a manifest needs version, name and gateway"
            )
        ]
    if not isinstance(composed.value, dict):
        line = composed.lines.get(())
        message = f"a manifest must be a mapping of fields, but this is {describe(composed.value)}"
        return None, [ManifestProblem(shown, line, "", message)]
    return _validate(composed, shown, stem, fleet)


def _decode(data: bytes, shown: str) -> tuple[str, ManifestProblem | None]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = f"0x{data[exc.start]:02x} at offset {exc.start}"
        message = f"not valid UTF-8 (byte {byte}); save the file as UTF-8"
        return "", ManifestProblem(shown, line, "", message)
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        message = f"the character U+{ord(bad.group()):04X} is not allowed in YAML"
        return "", ManifestProblem(shown, line, "", message)
    return text, None


def _syntax_problem(exc: yaml.YAMLError, text: str, shown: str) -> ManifestProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return ManifestProblem(shown, line, "", message)


def _validate(
    composed: Composed, shown: str, stem: str | None, fleet: LoadedFleet | None
) -> tuple[TenantManifest | None, list[ManifestProblem]]:
    value: dict[str, Any] = composed.value
    problems = _tier_problems(value.get("tier"), fleet, shown, composed.lines)
    if fleet is not None:
        tier = value.get("tier")
        value = inherit(fleet.layers(tier if isinstance(tier, str) else None), value)
    problems += _channel_problems(value.get("channel"), fleet, shown, composed.lines)
    if fleet is not None and not problems:
        value = _with_channel_version(value, composed.value, fleet)
    manifest = None
    try:
        manifest = TenantManifest.model_validate(value)
    except ValidationError as exc:
        problems += validation_problems(exc, shown, composed.lines)
    name = value.get("name")
    bad_name = any(p.field == "name" for p in problems)
    if stem is not None and isinstance(name, str) and name != stem and not bad_name:
        message = f"'{name}' must equal the file name without its extension ('{stem}')"
        problems.append(ManifestProblem(shown, composed.lines.get(("name",)), "name", message))
    problems.sort(key=lambda p: p.line or 0)  # stable: same-line problems keep field order
    return (None if problems else manifest), problems


def _with_channel_version(value: dict[str, Any], own: dict[str, Any],
                          fleet: LoadedFleet) -> dict[str, Any]:
    """The merged manifest with its channel's version as its pin, unless the manifest pins a
    version of its own (gateway.commit or image in its own file: that wins). So a channel needs
    no code path of its own: set-version deploys the pin, as for a hand-pinned tenant."""
    channel = value.get("channel")
    spec = fleet.fleet.channels.get(channel) if isinstance(channel, str) else None
    gateway = value.get("gateway")
    mine = own.get("gateway")
    if spec is None or not isinstance(gateway, dict):
        return value
    if isinstance(mine, dict) and ("commit" in mine or "image" in mine):
        return value
    if spec.commit is not None:
        gateway = {**{k: v for k, v in gateway.items() if k != "image"}, "commit": spec.commit}
    else:
        gateway = {**{k: v for k, v in gateway.items() if k not in SOURCE_KEYS},
                   "image": spec.image}
    return {**value, "gateway": gateway}


def _channel_problems(
    channel: Any, fleet: LoadedFleet | None, shown: str, lines: dict[tuple[str | int, ...], int]
) -> list[ManifestProblem]:
    """A channel the fleet file does not define, at the manifest's `channel:` line (or its
    tier's or the defaults', which the fleet file checks itself)."""
    if not isinstance(channel, str):
        return []
    if fleet is None:
        message = f"channel '{channel}' needs a fleet file that defines it; there is none"
    elif channel in fleet.fleet.channels:
        return []
    else:
        known = ", ".join(sorted(fleet.fleet.channels)) or "none"
        close = difflib.get_close_matches(channel, list(fleet.fleet.channels), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        message = f"unknown channel '{channel}': {display_path(fleet.path)} defines {known}{hint}"
    return [ManifestProblem(shown, lines.get(("channel",)), "channel", message)]


def _tier_problems(
    tier: Any, fleet: LoadedFleet | None, shown: str, lines: dict[tuple[str | int, ...], int]
) -> list[ManifestProblem]:
    """A tier the fleet file does not define, at the manifest's `tier:` line. (A tier that is
    not even text is the model's to report.)"""
    if not isinstance(tier, str) or (fleet is not None and tier in fleet.tiers):
        return []
    if fleet is None:
        message = f"tier '{tier}' needs a fleet file that defines it; there is none"
    else:
        known = ", ".join(sorted(fleet.tiers)) or "none"
        close = difflib.get_close_matches(tier, list(fleet.tiers), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        message = (f"unknown tier '{tier}': {display_path(fleet.path)} defines {known}{hint}")
    return [ManifestProblem(shown, lines.get(("tier",)), "tier", message)]


def validation_problems(
    exc: ValidationError,
    shown: str,
    lines: dict[tuple[str | int, ...], int] | None = None,
    *,
    fleet: bool = False,
) -> list[ManifestProblem]:
    """Pydantic errors as ManifestProblems; `lines` maps a field path to its line, when known.
    `fleet`: the errors are a fleet file's, whose fields read like a manifest's below
    `defaults` or a tier."""
    lines = lines or {}
    problems = []
    for err in exc.errors():
        path = tuple(p for p in err["loc"] if p != "[key]")
        at = (err.get("ctx") or {}).get("at")
        if at is not None:
            # a digit step is a list index, as the composed lines key it
            path += tuple(int(p) if p.isdigit() else p for p in str(at).split("."))
        message = _fleet_message(err, path) if fleet else _message(err, path)
        problems.append(ManifestProblem(shown, _line_for(path, lines), dotted(path), message))
    return problems


def _fleet_message(err: Any, path: tuple[str | int, ...]) -> str:
    if path == ("version",) and err["type"] != "missing":
        got = describe(err.get("input"))
        return f"unsupported fleet file version: {got}; this saas-infra reads version 1"
    if path[:1] == ("tiers",) and len(path) >= 2:
        inner: tuple[str | int, ...] = ("defaults", *path[2:])
    else:
        inner = path
    if err["type"] == "extra_forbidden":
        return _unknown_field(inner, FLEET_MODEL_AT)
    return _message(err, inner[1:] if inner[:1] == ("defaults",) else inner)


def _line_for(path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    # a missing field has no line of its own: point at the mapping that should hold it
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def _message(err: Any, path: tuple[str | int, ...]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "missing":
        return "this required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field(path, MODEL_AT)
    if path == ("version",):
        got = describe(value)
        return (
            f"unsupported manifest version: {got}; this saas-infra reads version {MANIFEST_VERSION}"
        )
    if path == ("gateway", "auth_mode"):
        hint = (
            "; 'proxy_key' was renamed 'client_key' in luthien-proxy"
            if value == "proxy_key"
            else ""
        )
        return f"must be one of {', '.join(AUTH_MODES)}, got {describe(value)}{hint}"
    if kind == "literal_error" and ctx.get("expected"):
        return f"must be one of {ctx['expected']}, got {describe(value)}"
    return _type_message(kind, value) or err["msg"].replace("Input should be", "must be")


def _type_message(kind: str, value: Any) -> str | None:
    got = describe(value)
    if kind == "string_type":
        hint = "; put the value in quotes" if isinstance(value, bool | int | float) else ""
        return f"must be text, but YAML read {got}{hint}"
    if kind in ("model_type", "dict_type"):
        return f"must be a mapping of fields, got {got}"
    if kind == "int_type":
        return f"must be a whole number, got {got}"
    if kind == "bool_type":
        return f"must be true or false, got {got}"
    if kind == "datetime_type":
        return f"must be a timestamp like 2026-11-26T10:00:00Z, got {got}"
    if kind == "literal_error":
        return f"must be one of the listed values, got {got}"
    return None


def _unknown_field(
    path: tuple[str | int, ...], models: dict[tuple[str, ...], type[BaseModel]]
) -> str:
    key = str(path[-1])
    where = tuple(str(p) for p in path[:-1])
    if where[-2:-1] == ("secrets",):  # a secret's own mapping, whatever its name
        where = (*where[:-1], "*")
    if where[:1] == ("channels",) and len(where) >= 2:  # a channel's, whatever its name
        where = ("channels", "*", *where[2:])
    model = models.get(where)
    if model is None:
        return f"unknown field '{key}'"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown field '{key}' (allowed here: {', '.join(allowed)}){hint}"


def fingerprint_file(path: Path) -> str:
    """sha256 of a file's bytes, as LoadedManifest.fingerprint computes it."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


__all__ = [
    "FLEET_FILE",
    "MAX_MANIFEST_BYTES",
    "LoadedFleet",
    "LoadedManifest",
    "Tenant",
    "Where",
    "display_path",
    "fingerprint_file",
    "load_tenant_file",
    "load_tenants",
    "fleet_path",
    "following",
    "parse_fleet",
    "parse_manifest",
    "read_fleet",
    "read_tenants",
    "validation_problems",
]
