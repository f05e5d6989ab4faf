"""Edits to manifest files that touch only the lines they change, for a clean `git diff`.

The operator verbs (create, delete, cancel-delete, redeploy) record intent here. Each edit splices
new text into the file at positions taken from the parsed YAML, so comments, key order, quoting
and blank lines elsewhere stay byte-for-byte; adding then removing a block restores the original.
Every result is re-validated and compared with the intended manifest before an atomic write.
No network, and no Railway: applying the change is the reconciler's job.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from saas_infra.clock import format_time
from saas_infra.errors import ManifestError, ManifestProblem
from saas_infra.manifest.loader import (
    SUFFIXES,
    LoadedFleet,
    display_path,
    parse_manifest,
    read_fleet,
    validation_problems,
)
from saas_infra.manifest.models import (
    DEFAULT_AUTH_MODE,
    DEFAULT_BRANCH,
    DEFAULT_GRACE_DAYS,
    DEFAULT_REPO,
    GatewaySpec,
    RedeployRequest,
    TenantManifest,
    Tombstone,
)

SCHEMA_RELPATH = Path("schema") / "tenant.schema.json"
_TOP_ORDER = ("version", "name", "tier", "channel", "gateway", "redeploy", "deletion")
_GATEWAY_ORDER = ("repo", "branch", "commit", "image", "auth_mode", "variables")
_DELETION_ORDER = ("requested_at", "grace_days", "force")
_BOM = "\ufeff"
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a line break
_NULL_TAG = "tag:yaml.org,2002:null"

Edit = tuple[int, int, str]  # replace text[start:end] with the string


@dataclass
class _Doc:
    """A manifest file opened for editing: its text, parsed nodes and layout habits."""

    path: Path
    data: bytes
    text: str
    manifest: TenantManifest
    root: yaml.MappingNode
    bom: bool
    newline: str
    indent: int
    line_starts: list[int] = field(default_factory=list)
    fleet: LoadedFleet | None = None  # what the manifest inherits; an edit keeps it valid

    @property
    def shown(self) -> str:
        return display_path(self.path)

    def line_end(self, line: int) -> int:
        """Index just past line `line` (0-based), including its line break."""
        return self.line_starts[line + 1] if line + 1 < len(self.line_starts) else len(self.text)


# ---- public edits -------------------------------------------------------------------------


def write_new_manifest(
    directory: Path,
    name: str,
    *,
    repo: str | None = None,
    branch: str | None = None,
    commit: str | None = None,
    image: str | None = None,
    auth_mode: str | None = None,
    variables: dict[str, str] | None = None,
    deletion: Tombstone | None = None,
) -> Path:
    """Write `directory/<name>.yaml` for a new tenant; refuse when the tenant has a manifest.

    With neither repo nor image the gateway builds from LuthienResearch/luthien-proxy.
    `variables` are extra non-secret gateway variables and `deletion` a tombstone (`adopt`
    carries an orphan's over).
    """
    directory = Path(directory)
    if repo is None and image is None:
        repo = DEFAULT_REPO
    gateway = {
        "repo": repo,
        "branch": branch,
        "commit": commit,
        "image": image,
        "auth_mode": auth_mode or DEFAULT_AUTH_MODE,
        "variables": dict(variables) if variables else None,
    }
    data = {
        "version": 1,
        "name": name,
        "gateway": {k: v for k, v in gateway.items() if v is not None},
    }
    if deletion is not None:
        data["deletion"] = deletion.model_dump()
    path = directory / f"{name}.yaml"
    manifest = _validated(TenantManifest, data, display_path(path))  # also keeps `name` path-safe
    return _write_new(directory, name, render_manifest(manifest, schema_ref=_schema_ref(directory)))


def write_created_manifest(
    directory: Path,
    name: str,
    *,
    repo: str | None = None,
    branch: str | None = None,
    commit: str | None = None,
    image: str | None = None,
    fleet_file: Path | None = None,
) -> Path:
    """The manifest `create` writes. When fleet.yaml's defaults give the gateway's source or a
    channel and no source is asked for, the manifest leaves its gateway to fleet.yaml (only a
    `repo` where a channel needs one to pin a commit of), so it inherits the fleet's source,
    branch and auth_mode like a hand-written short manifest. Otherwise, and without a fleet
    file, it is `write_new_manifest`'s: the default repo on main, AUTH_MODE both."""
    directory = Path(directory)
    fleet, problems = read_fleet(directory, fleet_file)
    if problems:
        raise ManifestError(problems)
    asked = any(v is not None for v in (repo, branch, commit, image))
    if fleet is None or asked or not _defaults_give_source(fleet):
        return write_new_manifest(directory, name, repo=repo, branch=branch, commit=commit,
                                  image=image)
    header = [f"# yaml-language-server: $schema={ref}"] if (ref := _schema_ref(directory)) else []
    shown = display_path(directory / f"{name}.yaml")
    for gateway in ([], ["gateway:", f"  repo: {_scalar(DEFAULT_REPO)}"]):
        text = "\n".join([*header, "version: 1", f"name: {_scalar(name)}", *gateway]) + "\n"
        manifest, _ = parse_manifest(text.encode("utf-8"), shown, stem=name, fleet=fleet)
        if manifest is not None:
            return _write_new(directory, name, text)
    return write_new_manifest(directory, name)  # fleet.yaml gives too little: stand alone


def _defaults_give_source(fleet: LoadedFleet) -> bool:
    defaults = fleet.fleet.defaults
    gateway = defaults.gateway
    return defaults.channel is not None or (
        gateway is not None and (gateway.repo is not None or gateway.image is not None))


def _write_new(directory: Path, name: str, text: str) -> Path:
    """Write a new tenant's manifest text; refuse when the tenant has a manifest."""
    for suffix in SUFFIXES:
        existing = directory / f"{name}{suffix}"
        if existing.exists():
            message = f"tenant '{name}' already has a manifest"
            raise ManifestError([ManifestProblem(display_path(existing), None, "name", message)])
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"cannot create the tenants directory: {exc.strerror or exc}"
        raise ManifestError([ManifestProblem(display_path(directory), None, "", message)]) from exc
    path = directory / f"{name}.yaml"
    _write_atomic(path, text.encode("utf-8"), create=True)
    return path


def render_manifest(manifest: TenantManifest, *, schema_ref: str | None = None) -> str:
    """The canonical text of a manifest, as `write_new_manifest` writes it."""
    lines = [f"# yaml-language-server: $schema={schema_ref}"] if schema_ref else []
    lines += [f"version: {manifest.version}", f"name: {manifest.name}", "gateway:"]
    gw = manifest.gateway
    for key in ("repo", "branch", "commit", "image", "auth_mode"):
        value = getattr(gw, key)
        if value is not None:
            lines.append(f"  {key}: {_scalar(value)}")
    if gw.variables:
        lines.append("  variables:")
        lines += [f"    {k}: {_scalar(v)}" for k, v in gw.variables.items()]
    if manifest.redeploy is not None:
        lines += ["redeploy:", f"  requested_at: {_scalar(manifest.redeploy.requested_at)}"]
    if manifest.deletion is not None:
        lines.append("deletion:")
        lines += [f"  {k}: {v}" for k, v in _tombstone_fields(manifest.deletion)]
    return "\n".join(lines) + "\n"


def set_tombstone(
    path: Path, requested_at: datetime, grace_days: int = DEFAULT_GRACE_DAYS, force: bool = False,
    *, fleet_file: Path | None = None,
) -> Tombstone:
    """Record a deletion request. An existing tombstone is kept as it is (running `delete` twice
    never moves the deadline); force=True only turns on its `force`. Returns the tombstone in
    the file afterwards."""
    doc = _open(path, fleet_file)
    current = doc.manifest.deletion
    if current is not None:
        if not force or current.force:
            return current
        new = _validated(Tombstone, {**current.model_dump(), "force": True}, doc.shown, "deletion")
        edits = _put_scalar(doc, _mapping_at(doc, "deletion"), "force", "true", _DELETION_ORDER)
    else:
        fields = {
            "requested_at": _whole_seconds(requested_at),
            "grace_days": grace_days,
            "force": force,
        }
        new = _validated(Tombstone, fields, doc.shown, "deletion")
        edits = _put_block(doc, "deletion", _tombstone_fields(new))
    _commit(doc, edits, doc.manifest.model_copy(update={"deletion": new}))
    return new


def clear_tombstone(path: Path, *, fleet_file: Path | None = None) -> bool:
    """Remove the tombstone (cancel-delete). False when there was none."""
    doc = _open(path, fleet_file)
    if doc.manifest.deletion is None:
        return False
    entry = _entry(doc.root, "deletion")
    assert entry is not None  # a valid manifest with a tombstone has the key
    _commit(doc, [_remove_entry(doc, *entry)], doc.manifest.model_copy(update={"deletion": None}))
    return True


def set_redeploy(
    path: Path, requested_at: datetime, *, fleet_file: Path | None = None
) -> RedeployRequest:
    """Record a redeploy request, replacing the time of an earlier one."""
    doc = _open(path, fleet_file)
    new = _validated(
        RedeployRequest, {"requested_at": _whole_seconds(requested_at)}, doc.shown, "redeploy"
    )
    stamp = _scalar(new.requested_at)
    if doc.manifest.redeploy is not None:
        edits = _put_scalar(
            doc, _mapping_at(doc, "redeploy"), "requested_at", stamp, ("requested_at",)
        )
    else:
        edits = _put_block(doc, "redeploy", [("requested_at", stamp)])
    _commit(doc, edits, doc.manifest.model_copy(update={"redeploy": new}))
    return new


def set_gateway_commit(path: Path, commit: str | None) -> GatewaySpec:
    """Pin the gateway to `commit` (a full SHA of its repo), or with None let it follow its
    branch again."""
    doc = _open(path)
    data = {**doc.manifest.gateway.model_dump(exclude={"commit"}), "commit": commit}
    new = _validated(GatewaySpec, {k: v for k, v in data.items() if v is not None}, doc.shown,
                     "gateway")
    gateway = _mapping_at(doc, "gateway")
    if commit is None:
        edits = _source_edits(doc, gateway, {}, drop=("commit",))
    else:
        edits = _source_edits(doc, gateway, {"commit": commit}, drop=())
    _commit(doc, edits, doc.manifest.model_copy(update={"gateway": new}))
    return new


def set_gateway_source(
    path: Path, *, repo: str | None = None, branch: str | None = None, image: str | None = None,
    fleet_file: Path | None = None,
) -> GatewaySpec:
    """Point the gateway at a repo (and branch, default main) or at a pinned image. A manifest
    that left its gateway to fleet.yaml gets a `gateway:` block of its own."""
    doc = _open(path, fleet_file)
    source = {"repo": repo, "branch": branch, "image": image}
    # An image pins itself: a commit pin goes with the repo it belonged to.
    dropped = {"repo", "branch", "image"} | ({"commit"} if image is not None else set())
    kept = doc.manifest.gateway.model_dump(exclude=dropped)
    data = {**kept, **{k: v for k, v in source.items() if v is not None}}
    new = _validated(GatewaySpec, data, doc.shown, "gateway")
    if _entry(doc.root, "gateway") is None:
        fields = {"repo": new.repo, "branch": new.branch} if new.repo else {"image": new.image}
        block = [(k, _scalar(v)) for k, v in fields.items() if v is not None]
        _commit(doc, _put_block(doc, "gateway", block), doc.manifest.model_copy(
            update={"gateway": new}))
        return new
    gateway = _mapping_at(doc, "gateway")
    if new.repo is not None:
        values = {"repo": new.repo}
        if _entry(gateway, "branch") is not None or new.branch != DEFAULT_BRANCH:
            values["branch"] = new.branch  # an absent branch already means main
        edits = _source_edits(doc, gateway, values, drop=("image",))
    else:
        edits = _source_edits(doc, gateway, {"image": new.image}, drop=("repo", "branch", "commit"))
    _commit(doc, edits, doc.manifest.model_copy(update={"gateway": new}))
    return new


# ---- reading and writing ------------------------------------------------------------------


def _open(path: Path, fleet_file: Path | None = None) -> _Doc:
    path = Path(path)
    fleet, problems = read_fleet(path.parent, fleet_file)
    if problems:
        raise ManifestError(problems)
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(
            [ManifestProblem(shown, None, "", f"cannot read the file: {exc.strerror or exc}")]
        ) from None
    manifest, problems = parse_manifest(data, shown, stem=path.stem, fleet=fleet)
    if manifest is None:
        raise ManifestError(problems)  # never edit a file we cannot fully understand
    text = data.decode("utf-8-sig")
    root = yaml.compose(text, Loader=yaml.SafeLoader)  # pure-Python marks index characters
    assert isinstance(root, yaml.MappingNode)  # parse_manifest accepted it: a mapping
    line_starts = [0] + [m.end() for m in _BREAK.finditer(text)]
    newline = "\r\n" if "\r\n" in text else "\n"
    doc = _Doc(
        path, data, text, manifest, root, data.startswith(b"\xef\xbb\xbf"), newline, 2, line_starts,
        fleet,
    )
    doc.indent = _indent_unit(doc)
    return doc


def _indent_unit(doc: _Doc) -> int:
    # follow the file's own habit, read from the gateway block that every manifest has
    gateway = _entry(doc.root, "gateway")
    if gateway is not None and isinstance(gateway[1], yaml.MappingNode) and gateway[1].value:
        column = gateway[1].value[0][0].start_mark.column - gateway[0].start_mark.column
        if column > 0:
            return column
    return 2


def _commit(doc: _Doc, edits: list[Edit], expected: TenantManifest) -> None:
    text = _apply(doc.text, edits)
    if text == doc.text:
        return
    data = ((_BOM if doc.bom else "") + text).encode("utf-8")
    manifest, problems = parse_manifest(data, doc.shown, stem=doc.path.stem, fleet=doc.fleet)
    if problems:
        raise ManifestError(problems)
    if manifest != expected:
        message = "saas-infra could not edit this file safely; make the change by hand"
        raise ManifestError([ManifestProblem(doc.shown, None, "", message)])
    _write_atomic(doc.path, data, previous=doc.data)


def _apply(text: str, edits: list[Edit]) -> str:
    # back to front, so earlier positions stay valid; of two insertions at one place, the one
    # listed first ends up first
    limit = len(text) + 1
    ordered = sorted(enumerate(edits), key=lambda ie: (ie[1][0], ie[1][1], ie[0]), reverse=True)
    for start, end, replacement in (edit for _, edit in ordered):
        assert end <= limit, "edits overlap"
        text = text[:start] + replacement + text[end:]
        limit = start
    return text


def _write_atomic(
    path: Path, data: bytes, *, previous: bytes | None = None, create: bool = False
) -> None:
    """Write through a temporary file and a rename, so a crash never leaves half a manifest.
    A symlinked manifest is written through its link: the link stays, its target changes."""
    shown = display_path(path)
    if not create:
        path = Path(os.path.realpath(path))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        mode = 0o666 if create else path.stat().st_mode & 0o777
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if not create:
                os.chmod(tmp, mode)
            _swap_in(tmp, path, previous, create)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        message = f"cannot write the file: {exc.strerror or exc}"
        raise ManifestError([ManifestProblem(shown, None, "", message)]) from exc
    _sync_directory(path.parent)


def _swap_in(tmp: Path, path: Path, previous: bytes | None, create: bool) -> None:
    if create:
        _create_from(tmp, path)
    elif previous is not None and path.read_bytes() != previous:
        message = "the file changed while saas-infra was editing it; run the command again"
        raise ManifestError([ManifestProblem(display_path(path), None, "", message)])
    else:
        os.replace(tmp, path)


def _create_from(tmp: Path, path: Path) -> None:
    exists = ManifestError(
        [ManifestProblem(display_path(path), None, "name", "the manifest already exists")]
    )
    try:
        os.link(tmp, path)  # unlike a rename, fails when the file appeared meanwhile
    except FileExistsError:
        raise exists from None
    except OSError:  # some network and FUSE file systems have no hard links
        if path.exists():
            raise exists from None
        os.replace(tmp, path)


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform; the rename itself is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _schema_ref(directory: Path) -> str | None:
    """Relative path from `directory` to the repository's schema file, when one is found."""
    start = directory.resolve()
    for folder in (start, *start.parents):
        candidate = folder / SCHEMA_RELPATH
        if candidate.is_file():
            return Path(os.path.relpath(candidate, start)).as_posix()
        if (folder / ".git").exists():
            return None  # do not wander out of the repository
    return None


# ---- text surgery -------------------------------------------------------------------------


def _entry(mapping: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in mapping.value:
        if key_node.value == key:
            return key_node, value_node
    return None


def _mapping_at(doc: _Doc, key: str) -> yaml.MappingNode:
    entry = _entry(doc.root, key)
    assert entry is not None and isinstance(entry[1], yaml.MappingNode)
    return _block(doc, entry[1], key)


def _block(doc: _Doc, node: yaml.MappingNode, what: str) -> yaml.MappingNode:
    if node.flow_style:
        line = node.start_mark.line + 1
        message = f"saas-infra edits only block-style mappings; write {what} with one key per line"
        raise ManifestError([ManifestProblem(doc.shown, line, what, message)])
    return node


def _last_line(node: yaml.Node) -> int:
    """0-based line of the node's last character (block collections end at their last child)."""
    if (
        isinstance(node, yaml.MappingNode | yaml.SequenceNode)
        and node.value
        and not node.flow_style
    ):
        last = node.value[-1]
        return _last_line(last[1] if isinstance(node, yaml.MappingNode) else last)
    end = node.end_mark
    return end.line if end.column > 0 else end.line - 1


def _entry_span(doc: _Doc, key_node: yaml.Node, value_node: yaml.Node) -> tuple[int, int]:
    start = doc.line_starts[key_node.start_mark.line]
    end = doc.line_end(_last_line(value_node))
    if end == len(doc.text) and not doc.text.endswith(("\n", "\r")) and start > 0:
        # the entry is the unterminated last line: take the break before it instead
        start -= 2 if doc.text[start - 2 : start] == "\r\n" else 1
    return start, end


def _remove_entry(doc: _Doc, key_node: yaml.Node, value_node: yaml.Node) -> Edit:
    start, end = _entry_span(doc, key_node, value_node)
    return start, end, ""


def _insert_entry(
    doc: _Doc, mapping: yaml.MappingNode, key: str, lines: list[str], order: tuple[str, ...]
) -> Edit:
    """Insert whole lines for `key` where the canonical order puts it among the present keys."""
    present = {k.value: (k, v) for k, v in mapping.value}
    before = [present[k] for k in order[: order.index(key)] if k in present]
    after = [present[k] for k in order[order.index(key) + 1 :] if k in present]
    block = "".join(line + doc.newline for line in lines)
    if before or not after:
        anchor = before[-1] if before else mapping.value[-1]
        position = doc.line_end(_last_line(anchor[1]))
        if position == len(doc.text) and not doc.text.endswith(("\n", "\r")):
            return position, position, doc.newline + block[: -len(doc.newline)]
        return position, position, block
    position = doc.line_starts[after[0][0].start_mark.line]
    return position, position, block


def _put_scalar(
    doc: _Doc, mapping: yaml.MappingNode, key: str, text: str, order: tuple[str, ...]
) -> list[Edit]:
    """Set `key: text` in a block mapping, keeping the line's comment and the value's quoting."""
    pad = " " * mapping.value[0][0].start_mark.column
    entry = _entry(mapping, key)
    if entry is None:
        return [_insert_entry(doc, mapping, key, [f"{pad}{key}: {text}"], order)]
    key_node, value_node = entry
    if not isinstance(value_node, yaml.ScalarNode) or value_node.tag == _NULL_TAG:
        start, end = _entry_span(doc, key_node, value_node)
        return [(start, end, f"{pad}{key}: {text}{doc.newline}")]
    if value_node.style in ("'", '"'):
        text = _restyle(text, value_node.style)
    start, end = value_node.start_mark.index, value_node.end_mark.index
    return [] if doc.text[start:end] == text else [(start, end, text)]


def _put_block(doc: _Doc, key: str, fields: list[tuple[str, str]]) -> list[Edit]:
    """Set a top-level `key:` block with the given children, replacing an empty one."""
    root = _block(doc, doc.root, "the manifest")
    pad = " " * root.value[0][0].start_mark.column
    inner = pad + " " * doc.indent
    lines = [f"{pad}{key}:"] + [f"{inner}{k}: {v}" for k, v in fields]
    entry = _entry(root, key)
    if entry is None:
        return [_insert_entry(doc, root, key, lines, _TOP_ORDER)]
    start, end = _entry_span(doc, *entry)  # present but null or flow-style: rewrite it whole
    return [(start, end, "".join(line + doc.newline for line in lines))]


def _source_edits(
    doc: _Doc, gateway: yaml.MappingNode, values: dict[str, Any], drop: tuple[str, ...]
) -> list[Edit]:
    edits = []
    for key, value in values.items():
        edits += _put_scalar(doc, gateway, key, _scalar(value), _GATEWAY_ORDER)
    for key in drop:
        entry = _entry(gateway, key)
        if entry is not None:
            edits.append(_remove_entry(doc, *entry))
    return edits


# ---- values -------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """One value as YAML text: plain when YAML would read it back unchanged, quoted otherwise."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    dumped = yaml.safe_dump(value, width=1 << 30, allow_unicode=True)
    return dumped.removesuffix("\n...\n").rstrip("\n")


def _restyle(text: str, style: str) -> str:
    value = yaml.safe_load(text)
    if not isinstance(value, str):
        return text  # timestamps and numbers stay plain
    return yaml.safe_dump(value, default_style=style, width=1 << 30, allow_unicode=True).rstrip(
        "\n"
    )


def _tombstone_fields(tombstone: Tombstone) -> list[tuple[str, str]]:
    return [(k, _scalar(getattr(tombstone, k))) for k in _DELETION_ORDER]


def _whole_seconds(value: datetime) -> datetime:
    # manifests carry whole seconds: the diff stays readable and nothing needs more precision
    return (
        value.replace(microsecond=0)
        if value.tzinfo is None
        else value.astimezone(UTC).replace(microsecond=0)
    )


def _validated(model: type[BaseModel], data: dict[str, Any], shown: str, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, shown)
        if prefix:
            problems = [
                ManifestProblem(
                    p.file, p.line, f"{prefix}.{p.field}" if p.field else prefix, p.message
                )
                for p in problems
            ]
        raise ManifestError(problems) from None
