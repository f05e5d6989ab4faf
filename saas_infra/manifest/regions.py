"""Checking the manifests' `region` against the regions Railway lists, before a pass sends anything.

The model checks a region's shape offline (`validate`); only Railway knows which ids exist, and it
adds and retires regions. A pass hands this module Railway's list (railway/operations.py
`deploy_regions`) and gets back one problem per tenant whose region Railway would refuse, naming
the file, line and field that set it, and one per region the fleet file writes that Railway would
refuse, even one no tenant inherits. Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from saas_infra.errors import ManifestProblem
from saas_infra.manifest.compose import dotted
from saas_infra.manifest.loader import LoadedFleet, LoadedManifest, display_path


@dataclass(frozen=True)
class KnownRegion:
    """A region as Railway lists it: its id (`name`), its friendly location, and, when Railway
    deprecated it, the region to use instead."""

    name: str
    location: str = ""
    deprecated: bool = False
    replacement: str | None = None


def region_problems(manifests: Sequence[LoadedManifest],
                    known: Mapping[str, KnownRegion]) -> list[ManifestProblem]:
    """One problem per manifest whose region Railway does not offer for deployments."""
    problems = []
    for loaded in manifests:
        region = loaded.manifest.region
        if region is None:
            continue
        message = _refusal(region, known)
        if message is None:
            continue
        at = loaded.region_at
        where = (at.file, at.line, at.field) if at else (str(loaded.path), None, "region")
        problems.append(ManifestProblem(*where, f"{message} (tenant {loaded.name})"))
    return problems


def fleet_region_problems(fleet: LoadedFleet | None, known: Mapping[str, KnownRegion],
                          reported: Sequence[ManifestProblem] = ()) -> list[ManifestProblem]:
    """One problem per region the fleet file writes (defaults, tiers) that Railway would refuse,
    whether or not a tenant inherits it (a tier whose tenants all set their own region still
    says something wrong). A place `reported` already names (for a tenant) is left out."""
    if fleet is None:
        return []
    done = {(p.file, p.line, p.field) for p in reported}
    layers: list[tuple[tuple[str | int, ...], str | None]] = [
        (("defaults", "region"), fleet.fleet.defaults.region),
        *((("tiers", name, "region"), tier.region) for name, tier in fleet.fleet.tiers.items())]
    problems = []
    for path, region in layers:
        message = _refusal(region, known) if region is not None else None
        where = (display_path(fleet.path), fleet.lines.get(path), dotted(path))
        if message is not None and where not in done:
            problems.append(ManifestProblem(*where, message))
    return problems


def _refusal(region: str, known: Mapping[str, KnownRegion]) -> str | None:
    found = known.get(region)
    if found is not None and not found.deprecated:
        return None
    valid = [r for r in known.values() if not r.deprecated]
    listed = ", ".join(f"{r.name} ({r.location})" if r.location else r.name for r in valid)
    if found is not None:
        instead = (f"; use its replacement {found.replacement}" if found.replacement
                   else "")
        return (f"Railway has deprecated the region {region} and places nothing new there"
                f"{instead}. Valid regions: {listed}")
    guess = _guess(region, valid)  # a guess ends in "?", which ends the sentence too
    return (f"'{region}' is not a region Railway offers{guess}{'' if guess else '.'} "
            f"Valid regions: {listed}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _guess(region: str, valid: list[KnownRegion]) -> str:
    """A friendly name (`eu-west`, as Railway's CLI takes it) or a near miss of an id."""
    for candidate in valid:
        if candidate.location and _slug(candidate.location) == _slug(region):
            return f"; did you mean {candidate.name} ({candidate.location})?"
    close = difflib.get_close_matches(region, [r.name for r in valid], n=1)
    return f"; did you mean {close[0]}?" if close else ""
