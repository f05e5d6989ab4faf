"""Edits to fleet.yaml that touch only the lines they change: the operator's rollout resume.

`saas-infra rollout resume CHANNEL` records the resume in git, beside the channel it resumes:
`resume: {commit: <the channel's version>, at: <now>}` under `channels.CHANNEL`. Comments, key
order and every other line stay byte-for-byte (the text is spliced at positions taken from the
parsed YAML, as edit.py does for manifests); the result is validated before an atomic write.
No network, and no Railway.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path

import yaml

from saas_infra.clock import format_time
from saas_infra.errors import ConfigError, ManifestError, ManifestProblem
from saas_infra.manifest.edit import _write_atomic
from saas_infra.manifest.loader import LoadedFleet, display_path, parse_fleet
from saas_infra.manifest.models import ChannelSpec, ResumeRequest


def set_channel_resume(path: Path, channel: str, at: datetime) -> ResumeRequest:
    """Write the resume of `channel`'s current version at `at` into the fleet file at `path`;
    return it. An earlier resume of the channel is replaced."""
    data = path.read_bytes()
    fleet, problems = parse_fleet(data, display_path(path), path)
    if fleet is None:
        raise ManifestError(problems)
    spec = _channel(fleet, channel)
    key = "commit" if spec.commit else "image"
    flow = f"{{{key}: '{spec.version}', at: '{format_time(at)}'}}"
    text = data.decode("utf-8")
    new_text = _spliced(text, channel, flow)
    checked, problems = parse_fleet(new_text.encode(), display_path(path), path)
    resume = _resume_of(checked, channel)
    if resume is None:
        raise ManifestError(problems or [ManifestProblem(
            display_path(path), None, f"channels.{channel}", "could not write the resume")])
    _write_atomic(path, new_text.encode("utf-8"), previous=data)
    return resume


def known_channel(path: Path, channel: str) -> None:
    """Raise unless the fleet file at `path` is valid and defines `channel`."""
    fleet, problems = parse_fleet(path.read_bytes(), display_path(path), path)
    if fleet is None:
        raise ManifestError(problems)
    _channel(fleet, channel)


def _channel(fleet: LoadedFleet, channel: str) -> ChannelSpec:
    spec = fleet.fleet.channels.get(channel)
    if spec is None:
        known = ", ".join(sorted(fleet.fleet.channels))
        close = difflib.get_close_matches(channel, list(fleet.fleet.channels), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(
            f"unknown channel '{channel}': {display_path(fleet.path)} defines "
            + (f"the channels {known}" if known else "no channels"),
            hint=f"{hint}`saas-infra rollout status` lists every channel and where it stands")
    return spec


def _resume_of(fleet: LoadedFleet | None, channel: str) -> ResumeRequest | None:
    spec = fleet.fleet.channels.get(channel) if fleet else None
    return spec.resume if spec else None


def _spliced(text: str, channel: str, flow: str) -> str:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    channels = _value(root, "channels")
    node = _value(channels, channel) if channels is not None else None
    if not isinstance(node, yaml.MappingNode):
        raise ManifestError([ManifestProblem("fleet.yaml", None, f"channels.{channel}",
                                             "the channel is not a mapping")])
    existing = _value(node, "resume")
    if existing is not None:  # replace its value, wherever and however it is written
        start, end = existing.start_mark.index, existing.end_mark.index
        return text[:start] + flow + text[end:]
    if node.flow_style:  # {commit: ...}: add the field before the closing brace
        end = node.end_mark.index - 1
        return text[:end].rstrip() + f", resume: {flow}" + text[end:]
    first_key = node.value[0][0]
    indent = " " * first_key.start_mark.column
    last = node.value[-1][1]
    line_end = text.find("\n", max(last.end_mark.index - 1, 0))
    at = len(text) if line_end == -1 else line_end + 1
    prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
    return text[:at] + f"{prefix}{indent}resume: {flow}\n" + text[at:]


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


__all__ = ["known_channel", "set_channel_resume"]
