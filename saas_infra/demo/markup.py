"""A tiny HTML builder that escapes every string it is given unless it is already Markup.

The demo builds all its HTML with it, so a tenant name, a variable value or a Railway project
name can never become markup. It knows nothing about tenants and never trusts plain `str`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

VOID_ELEMENTS = frozenset({"br", "hr", "img", "input", "link", "meta"})


class Markup(str):
    """Text that is already HTML, built by this module. Every other string gets escaped."""

    __slots__ = ()


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def concat(*parts: object) -> Markup:
    """Join parts into Markup: Markup as is, None dropped, lists flattened, the rest escaped."""
    out: list[str] = []
    for part in parts:
        if part is None:
            continue
        if isinstance(part, Iterable) and not isinstance(part, str):
            out.append(concat(*part))
        else:
            out.append(escape(part))
    return Markup("".join(out))


def tag(element: str, /, *children: object, **attrs: object) -> Markup:
    """tag("a", "text", href=u, class_="x", data_name=n) -> <a href=".." class="x" data-name="..">

    Attribute values are escaped; None or False drops an attribute, True writes it bare.
    """
    attributes = "".join(_attribute(key, value) for key, value in attrs.items())
    if element in VOID_ELEMENTS:
        return Markup(f"<{element}{attributes}>")
    return Markup(f"<{element}{attributes}>{concat(*children)}</{element}>")


def _attribute(key: str, value: object) -> str:
    if value is None or value is False:
        return ""
    name = key.rstrip("_").replace("_", "-")
    if value is True:
        return f" {name}"
    return f' {name}="{escape(value)}"'
