"""YAML text to plain Python values plus the line of every key, for precise manifest errors.

Builds values straight from the parser's events (libyaml when available), without recursion, so
a hostile file cannot blow the stack or the memory: anchors and aliases are refused where they
appear (no alias bombs), nesting is capped, and only plain data tags are constructed. No file
access and no validation of manifest fields here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)

try:  # libyaml parses about ten times faster; the pure-Python parser gives identical events.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_DEPTH = 10  # a manifest needs 3 levels (root, gateway, variables)

Path = tuple[str | int, ...]

_T = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_T}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {None, "!", f"{_T}map", f"{_T}seq"}
_CONSTRUCTOR = SafeConstructor()  # its scalar constructors keep no state between calls


@dataclass
class Composed:
    """The document's value, the 1-based line of each path, and structural problems."""

    value: Any = None
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[int | None, str, str]] = field(default_factory=list)  # line, field, msg
    empty: bool = True


class _Stop(Exception):
    """A problem after which reading the rest of the document is pointless or unsafe."""


@dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    key: Any = None
    key_line: int = 0
    has_key: bool = False
    key_lines: dict[str, int] = field(default_factory=dict)


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def describe(value: Any) -> str:
    """How YAML read a value, in the words an operator would use."""
    if value is None:
        return "null (empty)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, datetime | date):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"the text {value!r}"


def _tag_message(tag: str) -> str:
    if tag == f"{_T}merge":
        return "YAML merge keys (<<) are not allowed in manifests"
    short = "!!" + tag.removeprefix(_T) if tag.startswith(_T) else tag
    return f"the YAML tag {short} is not allowed in manifests"


def _line(event: Any) -> int:
    return event.start_mark.line + 1


class _Builder:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.out = Composed()
        self.stack: list[_Frame] = []

    def build(self) -> Composed:
        with contextlib.suppress(_Stop):
            self._run()
        return self.out

    def _stop(self, line: int | None, path: Path, message: str) -> None:
        self.out.problems.append((line, dotted(path), message))
        raise _Stop

    def _run(self) -> None:
        documents = 0
        while self.loader.check_event():
            event = self.loader.get_event()
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    self._stop(
                        _line(event), (), "a manifest is one YAML document; a second starts here"
                    )
            elif isinstance(event, AliasEvent):
                self._stop(
                    _line(event), self._where(), "YAML aliases (*name) are not allowed in manifests"
                )
            elif isinstance(event, ScalarEvent | CollectionStartEvent):
                self._node(event)
            elif isinstance(event, MappingEndEvent | SequenceEndEvent):
                self.stack.pop()

    def _where(self, raw: str | None = None) -> Path:
        """The path a node arriving now belongs to; `raw` names a scalar arriving as a key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if top.has_key:
            return (*top.path, top.key)
        return top.path + ((raw,) if raw is not None else ())

    def _node(self, event: Any) -> None:
        line = _line(event)
        raw = event.value if isinstance(event, ScalarEvent) else None
        if event.anchor is not None:
            self._stop(line, self._where(raw), "YAML anchors (&name) are not allowed in manifests")
        if isinstance(event, ScalarEvent):
            self._attach(self._scalar(event, line), line, is_scalar=True, raw=event.value)
            return
        if event.tag not in _COLLECTION_TAGS:
            self._stop(line, self._where(), _tag_message(event.tag))
        container: dict[str, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
        path = self._attach(container, line, is_scalar=False)
        self.stack.append(_Frame(container, path))
        if len(self.stack) > MAX_DEPTH:
            self._stop(line, path, f"nested more than {MAX_DEPTH} levels deep")

    def _scalar(self, event: ScalarEvent, line: int) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag not in _SCALAR_TAGS:
            self._stop(line, self._where(event.value), _tag_message(tag))
        # The stubs type the C loader's marks apart from the Python loader's; both serve.
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,  # type: ignore[arg-type]
                               event.style)
        try:
            return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (ValueError, OverflowError):
            # e.g. 2026-13-45 looks like a YAML timestamp but is no date
            self._stop(
                line,
                self._where(event.value),
                f"'{event.value}' is not a valid {tag.removeprefix(_T)}",
            )

    def _attach(self, value: Any, line: int, *, is_scalar: bool, raw: str = "") -> Path:
        out = self.out
        if not self.stack:
            out.value, out.lines[()] = value, line
            out.empty = value is None and is_scalar
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            path = (*top.path, len(top.container))
            top.container.append(value)
            out.lines[path] = line
            return path
        if not top.has_key:
            self._key(top, value, line, is_scalar, raw)
            return top.path
        path = (*top.path, top.key)
        top.container[top.key] = value
        out.lines[path] = top.key_line
        top.has_key = False
        return path

    def _key(self, top: _Frame, key: Any, line: int, is_scalar: bool, raw: str) -> None:
        if not is_scalar:
            self._stop(line, top.path, "mapping keys must be plain text, not a list or mapping")
        if not isinstance(key, str):
            message = f"YAML reads this key as {describe(key)}, not text; put it in quotes"
            self._stop(line, (*top.path, raw), message)
        if key in top.key_lines:
            self.out.problems.append(
                (
                    line,
                    dotted((*top.path, key)),
                    f"duplicate key (first at line {top.key_lines[key]})",
                )
            )
        else:
            top.key_lines[key] = line
        top.key, top.key_line, top.has_key = key, line, True


def compose(text: str) -> Composed:
    """Parse one manifest's text. YAML syntax errors raise yaml.YAMLError (caller maps them)."""
    loader = _Loader(text)
    try:
        return _Builder(loader).build()
    finally:
        loader.dispose()
