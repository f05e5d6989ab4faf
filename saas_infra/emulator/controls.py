"""The emulator's test controls over HTTP. They are NOT Railway endpoints: they answer on the
emulator's own port (and through its in-process transport) without credentials, rate limits or
faults, so an emulator must never be exposed beyond the machine (`saas-infra emulator` warns
when its --host is not loopback).

    POST /github/push           a GitHub push event: {"ref", "after", "repository": {"full_name"}}
                                (github.py); answers the deployments it queued
    POST /_emulator/commits     {"repo", "commit", "outcome"}: make the commit known in the repo
                                and say how it behaves once deployed (commits.py)
    POST /_emulator/images      {"image", "outcome"}: the same for an image
    GET  /_emulator/gateway/<domain>/<path>
                                what the gateway answers at https://<domain>/<path> (gateway.py)
    GET  /_emulator             what this server is, and the rule above (probes.py)

A body that is not what the route takes answers 400 {"error": "..."}; an unknown route 404, a
wrong method 405. Each control calls an Emulator method of the same meaning.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .commits import OUTCOMES
from .faults import Answer
from .probes import GATEWAY_ROUTE, GRAPHQL_PATH

if TYPE_CHECKING:
    from .core import Emulator

PUSH = "/github/push"
COMMITS = "/_emulator/commits"
IMAGES = "/_emulator/images"
DESCRIBE = "/_emulator"
PREFIXES = ("/github/", "/_emulator")
_JSON = {"Content-Type": "application/json"}


class BadControl(ValueError):
    """The request does not fit the control: 400 with this message."""


def _json(status: int, body: Any) -> Answer:
    return status, dict(_JSON), json.dumps(body, separators=(",", ":")).encode()


def describe() -> dict[str, Any]:
    return {
        "emulator": "saas-infra",
        "graphql": GRAPHQL_PATH,
        "gateway": GATEWAY_ROUTE + "{domain}{path}",
        "controls": {"push": PUSH, "commits": COMMITS, "images": IMAGES},
        "outcomes": list(OUTCOMES),
        "note": "test controls, not Railway endpoints: never expose this server",
    }


def answer(emulator: Emulator, method: str, path: str, headers: dict[str, str], body: bytes):
    """The control's answer, or None when `path` is not a control (the caller answers 404)."""
    if path.startswith(GATEWAY_ROUTE):
        host, _, rest = path[len(GATEWAY_ROUTE):].partition("/")
        allowed, run = "GET", lambda: _json(*emulator.gateway_answer(host, "/" + rest))
    elif path.rstrip("/") == DESCRIBE:
        allowed, run = "GET", lambda: _json(200, describe())
    elif path == PUSH:
        allowed, run = "POST", lambda: _push(emulator, headers, _body(body))
    elif path == COMMITS:
        allowed, run = "POST", lambda: _commit(emulator, _body(body))
    elif path == IMAGES:
        allowed, run = "POST", lambda: _image(emulator, _body(body))
    else:
        return None
    if method.upper() != allowed:
        return 405, {**_JSON, "Allow": allowed}, json.dumps({"error": f"use {allowed}"}).encode()
    try:
        return run()
    except ValueError as exc:  # BadControl too: the request does not fit
        return _json(400, {"error": str(exc)})


def _commit(emulator: Emulator, given: dict[str, Any]) -> Answer:
    emulator.set_commit_outcome(_text(given, "repo"), _text(given, "commit"),
                                _text(given, "outcome"))
    return _json(200, {key: given.get(key) for key in ("repo", "commit", "outcome")})


def _image(emulator: Emulator, given: dict[str, Any]) -> Answer:
    emulator.set_image_outcome(_text(given, "image"), _text(given, "outcome"))
    return _json(200, {key: given.get(key) for key in ("image", "outcome")})


def _text(given: dict[str, Any], key: str) -> str:
    value = given.get(key)
    if not isinstance(value, str):
        raise BadControl(f"`{key}` must be a string")
    return value


def _body(body: bytes) -> dict[str, Any]:
    try:
        given = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadControl("the body must be a JSON object") from None
    if not isinstance(given, dict):
        raise BadControl("the body must be a JSON object")
    return given


def _push(emulator: Emulator, headers: dict[str, str], event: dict[str, Any]) -> Answer:
    kind = {k.lower(): v for k, v in headers.items()}.get("x-github-event", "push")
    if kind != "push":
        return _json(202, {"ignored": kind})  # e.g. GitHub's "ping" when a webhook is added
    repository = event.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    ref, after = event.get("ref"), event.get("after")
    if not isinstance(full_name, str) or not isinstance(ref, str):
        raise BadControl("a push event needs `ref` and `repository.full_name`")
    head_commit = event.get("head_commit")
    head: dict[str, Any] = head_commit if isinstance(head_commit, dict) else {}
    author_given = head.get("author")
    author: dict[str, Any] = author_given if isinstance(author_given, dict) else {}
    done = emulator.github_push(
        full_name, ref, after, message=head.get("message"), author=author.get("name"))
    return _json(200, done)
