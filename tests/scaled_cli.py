"""The `saas-infra` command line on emulated time: a test entry point, never the product's.

    SAAS_INFRA_TIME_SCALE=N [SAAS_INFRA_TIME_ORIGIN=epoch] python tests/scaled_cli.py apply --yes

Chaos runs and the gitops tests drive real CLI processes against an emulator whose time runs N
times faster; this gives those processes the same clock. The product's `saas-infra` reads no
such switch (runtime.py).
"""

from __future__ import annotations

import os

from saas_infra.cli import cli
from saas_infra.emulator.timescale import TIME_ORIGIN, TIME_SCALE, clock_from_env
from saas_infra.runtime import Runtime


def main() -> None:
    try:
        clock = clock_from_env(os.environ)
    except ValueError as exc:
        raise SystemExit(f"Error: {TIME_SCALE} / {TIME_ORIGIN}: {exc}") from None
    cli(prog_name="saas-infra", obj=Runtime(clock=clock))


if __name__ == "__main__":
    main()
