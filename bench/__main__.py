"""Run the benchmarks and print their figures: `make bench` or `.venv/bin/python -m bench [NAME ...]`.

Each benchmark module exposes run(scale: float) -> list[tuple[str, str]] (label, figure)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

BENCHMARKS = ["codes", "catalogue", "cases", "licences", "registries", "exchange"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "names",
        nargs="*",
        default=BENCHMARKS,
        help=f"which to run (default: all of {BENCHMARKS}); exchange:bulk, exchange:gateway … one part",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the documented workload (default 1)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.settings.test")
    import django

    django.setup()
    print(
        f"# Tongban benchmarks — Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    for arg in args.names:
        name, _, only = arg.partition(":")  # exchange:bulk runs one part of a benchmark that has parts
        module = __import__(f"bench.{name}", fromlist=["run"])
        started = time.perf_counter()
        print(f"\n## {arg}")
        for label, figure in module.run(args.scale, **({"only": only} if only else {})):
            # LIMIT lines are read by tools as they are: one space, no padding.
            print(f"{label} {figure}" if label.startswith("LIMIT ") else f"{label:<58} {figure}")
        print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
