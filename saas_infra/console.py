"""The one place output goes through: data to stdout, messages and progress to stderr.

Colour follows NO_COLOR (which drops every style, bold and dim too) and the terminal; when
stderr is not a terminal progress is plain lines. Nothing here decides what to say: the render
layer (saas_infra/render/) builds the text.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from rich.console import Console as RichConsole
from rich.markup import escape


class Console:
    def __init__(self, *, stdout=None, stderr=None, no_color: bool | None = None) -> None:
        no_color = bool(os.environ.get("NO_COLOR")) if no_color is None else no_color
        width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
        self.no_color = no_color
        self._columns = width
        self.out = RichConsole(file=stdout or sys.stdout, no_color=no_color, highlight=False,
                               soft_wrap=True, width=width)
        self.err = RichConsole(file=stderr or sys.stderr, no_color=no_color, highlight=False,
                               soft_wrap=True, width=width)

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    @property
    def animated(self) -> bool:
        """Whether a spinner can move on stderr (a real terminal, not FORCE_COLOR alone)."""
        return self.interactive and _real_tty(self.err.file)

    @property
    def width(self) -> int | None:
        """The width tables must fit: COLUMNS, else the terminal's; None when neither (a pipe)."""
        if self._columns:
            return self._columns
        return self.out.width if _real_tty(self.out.file) else None

    def _style(self, style: str | None) -> str | None:
        return None if self.no_color else style

    def data(self, text: str) -> None:
        """Plain data for stdout (JSON, Markdown): printed exactly, no markup, no wrapping."""
        self.out.file.write(text if text.endswith("\n") else text + "\n")
        self.out.file.flush()

    def print(self, renderable, style: str | None = None, **kw) -> None:
        self.out.print(renderable, style=self._style(style), **kw)

    def message(self, text: str, style: str | None = None) -> None:
        self.err.print(escape(text), style=self._style(style))

    def warn(self, text: str) -> None:
        self.message(text, "yellow")

    def error(self, text: str) -> None:
        self.message(text, "red")

    @contextmanager
    def status(self, text: str):
        """A spinner on a terminal; one plain line otherwise."""
        # rich counts FORCE_COLOR / TTY_COMPATIBLE as a terminal; a spinner there would write
        # cursor codes into CI logs and captured output, so it needs a real TTY as well.
        if self.animated:
            with self.err.status(escape(text)) as status:
                yield lambda t: status.update(escape(t))
        else:
            self.message(text)
            yield lambda t: None


def _real_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
