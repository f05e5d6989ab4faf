"""The one place output goes through: data to stdout, messages and progress to stderr.

Colour follows NO_COLOR and the terminal; when stderr is not a terminal progress is plain lines.
Nothing here decides what to say; render.py builds the text.
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
        self.out = RichConsole(file=stdout or sys.stdout, no_color=no_color, highlight=False,
                               soft_wrap=True, width=width)
        self.err = RichConsole(file=stderr or sys.stderr, no_color=no_color, highlight=False,
                               soft_wrap=True, width=width)

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    def data(self, text: str) -> None:
        """Plain data for stdout (JSON, Markdown): printed exactly, no markup, no wrapping."""
        self.out.file.write(text if text.endswith("\n") else text + "\n")
        self.out.file.flush()

    def print(self, renderable, **kw) -> None:
        self.out.print(renderable, **kw)

    def message(self, text: str, style: str | None = None) -> None:
        self.err.print(escape(text), style=style)

    def warn(self, text: str) -> None:
        self.err.print(escape(text), style="yellow")

    def error(self, text: str) -> None:
        self.err.print(escape(text), style="red")

    @contextmanager
    def status(self, text: str):
        """A spinner on a terminal; one plain line otherwise."""
        # rich counts FORCE_COLOR / TTY_COMPATIBLE as a terminal; a spinner there would write
        # cursor codes into CI logs and captured output, so it needs a real TTY as well.
        if self.interactive and _real_tty(self.err.file):
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
