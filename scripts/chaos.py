"""Chaos run: seeded rounds of random fleet changes, applied by real `saas-infra apply` processes
against the local emulator with faults on and random SIGKILLs, each followed by a clean pass and
an invariant check. Prints the figures of README "Reliability"; exits 1 on any violation.

    uv run python scripts/chaos.py --rounds 200 --seed 1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the runner lives beside the tests, which it shares checks with

from tests.chaos_lib import ChaosConfig, run_chaos  # noqa: E402 - after the path above


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--names", type=int, default=8, help="size of the tenant name pool")
    parser.add_argument("--kill-rate", type=float, default=0.35,
                        help="share of rounds whose faulty pass is SIGKILLed")
    parser.add_argument("--time-scale", type=float, default=40.0,
                        help="how much faster than real time Railway's clock and waits run")
    parser.add_argument("--workdir", type=Path, help="keep tenants/ and logs here [a temp dir]")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="saas-infra-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # Retries are expected here: log them to a file rather than the terminal.
    logging.basicConfig(filename=workdir / "runner.log", level=logging.WARNING)
    config = ChaosConfig(workdir=workdir, rounds=args.rounds, seed=args.seed, names=args.names,
                         kill_rate=args.kill_rate, time_scale=args.time_scale)
    report = run_chaos(config)
    if args.json:
        print(json.dumps({
            "rounds": report.rounds, "seed": args.seed, "changes": dict(report.changes),
            "faults": dict(report.faults), "kills": report.kills, "exits": dict(report.exits),
            "requests": report.requests, "violations": report.violations,
            "seconds": round(report.seconds, 1),
        }, indent=2))
    else:
        print(f"chaos run, seed {args.seed}, time x{args.time_scale:g}, work dir {workdir}")
        print("\n".join(report.lines()))
        for violation in report.violations:
            print(f"  VIOLATION {violation}")
        if report.violations:  # what led there, to replay it
            print("\n".join(["changes made:", *(f"  {line}" for line in report.history)]))
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
