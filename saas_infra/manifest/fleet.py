"""What a manifest inherits from fleet.yaml: its `defaults`, then its tier, then its own fields.

Works on plain values (as YAML gave them, already checked against the fleet file's models), so
the merged manifest is validated once, as a whole, with the manifest's own lines. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The gateway's source is one choice: a layer that names repo or image replaces the whole of
# the layer below's (an image default and a manifest's repo must not end up as both; a pinned
# commit goes with the repo it belongs to).
SOURCE_KEYS = ("repo", "branch", "commit", "image")
SOURCE_CHOICE = ("repo", "image")


def inherit(layers: Iterable[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest over its layers (lowest first): mappings merge key by key, anything else
    (a text, a number, a list) is replaced whole."""
    merged: dict[str, Any] = {}
    for layer in [*layers, manifest]:
        merged = _over(merged, layer, ())
    return merged


def _over(base: dict[str, Any], top: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = dict(base)
    if path == ("gateway",) and any(key in top for key in SOURCE_CHOICE):
        for key in SOURCE_KEYS:
            out.pop(key, None)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            out[key] = _over(below, value, (*path, key))
        else:
            out[key] = value
    return out
