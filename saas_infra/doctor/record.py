"""`--record DIR`: every request and answer of a doctor run, as vcrpy cassettes, scrubbed.

Exchanges are held in memory and written when the run ends (`close`), scrubbed by one Scrubber
for the whole run so that stand-ins agree across cassettes. A run killed outright writes
nothing: unscrubbed answers never touch the disk. Before a cassette is written, its text is
searched for every secret and id the scrubber learnt; one found means nothing is written.
The format is vcrpy's (version 1), which tests/test_replay.py plays back through the client.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from pathlib import Path

import httpx
import yaml

import saas_infra
from saas_infra.clock import format_time
from saas_infra.doctor.scrub import Exchange, Scrubber

_SAFE = re.compile(r"[^a-z0-9-]+")


class Recorder:
    def __init__(self, directory: Path, scrubber: Scrubber, *, api_url: str = "") -> None:
        self.directory = directory
        self.scrubber = scrubber
        self.api_url = api_url  # named in each cassette's header
        self._sections: list[tuple[str, list[Exchange]]] = [("checks", [])]
        self._lock = threading.Lock()

    def section(self, name: str) -> None:
        """Later exchanges go to a cassette of their own, named after `name`."""
        with self._lock:
            self._sections.append((name, []))

    def add(self, request: httpx.Request, response: httpx.Response) -> None:
        _, _, token = request.headers.get("authorization", "").partition(" ")
        if token:  # whatever token the client sent is a secret the cassettes must not hold
            self.scrubber.secrets.add(token.strip())
        exchange = Exchange(
            method=request.method, url=str(request.url),
            request_headers=list(request.headers.multi_items()), request_body=request.read(),
            status=response.status_code, reason=response.reason_phrase,
            response_headers=list(response.headers.multi_items()), response_body=response.read(),
        )
        with self._lock:
            self._sections[-1][1].append(exchange)

    def close(self, when: datetime) -> list[Path]:
        """Scrub everything, check it, write one cassette per non-empty section."""
        with self._lock:
            sections = [(name, exchanges) for name, exchanges in self._sections if exchanges]
        everything = [e for _, exchanges in sections for e in exchanges]
        interactions = iter(self.scrubber.scrub(everything))
        texts = []
        for index, (name, exchanges) in enumerate(sections, start=1):
            cassette = {"interactions": [next(interactions) for _ in exchanges], "version": 1}
            text = self._header(name, when) + yaml.safe_dump(cassette, sort_keys=False,
                                                             allow_unicode=True, width=100)
            self.scrubber.verify(text)  # raises before anything is written
            texts.append((f"{index:02d}-{_SAFE.sub('-', name.lower())}.yaml", text))
        self.directory.mkdir(parents=True, exist_ok=True)
        written = []
        for filename, text in texts:
            path = self.directory / filename
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written

    def _header(self, name: str, when: datetime) -> str:
        return (f"# Recorded by `saas-infra doctor` {saas_infra.__version__} ({name}) on "
                f"{format_time(when)} against {_host(self.api_url)}.\n"
                "# Scrubbed: headers beyond an allow-list, the token, variable values, keys,\n"
                "# passwords, URLs, emails and names; ids are consistent stand-ins.\n")


def _host(url: str) -> str:
    return httpx.URL(url).host or "an unknown host"
