"""Relay connections over ordered lists: edges, pageInfo and opaque base64 cursors.

A cursor encodes the sort key of its node, not its offset, so a page boundary stays put when
items are created or removed between two page requests. Pure functions.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from functools import lru_cache
from typing import Any


class BadCursor(ValueError):
    pass


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode()


@lru_cache(maxsize=1024)
def _position_cursor(index: int) -> str:
    return encode_cursor([index])


def _position(cursor: str) -> int:
    key = decode_cursor(cursor)
    if len(key) != 1 or not isinstance(key[0], int):
        raise BadCursor(cursor)
    return key[0]


def decode_cursor(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.b64decode(cursor.encode(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise BadCursor(cursor) from exc
    if not isinstance(key, list):
        raise BadCursor(cursor)
    return key


def connection(
    nodes: Sequence[Any],
    keys: Sequence[list[Any]] | None = None,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """One page of `nodes`, whose `keys` (ascending, comparable lists) define order and cursors.

    Without keys, a node's position is its key: fine for small nested lists.
    """
    start, stop = 0, len(nodes)
    if keys is None:
        if after is not None:
            start = min(max(_position(after) + 1, 0), stop)
        if before is not None:
            stop = max(min(_position(before), stop), start)
    else:
        try:
            if after is not None:
                start = bisect_right(keys, decode_cursor(after))
            if before is not None:
                stop = max(bisect_left(keys, decode_cursor(before)), start)
        except TypeError as exc:  # a cursor from another ordering: keys of another shape
            raise BadCursor(after or before or "") from exc
    window_start, window_stop = start, stop
    if first is not None:
        stop = min(stop, start + max(first, 0))
    if last is not None:
        start = max(start, stop - max(last, 0))
    if keys is None:
        edges = [{"cursor": _position_cursor(i), "node": nodes[i]} for i in range(start, stop)]
    else:
        edges = [{"cursor": encode_cursor(keys[i]), "node": nodes[i]} for i in range(start, stop)]
    return {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": stop < window_stop,
            "hasPreviousPage": start > window_start,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
