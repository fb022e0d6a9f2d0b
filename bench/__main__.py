"""`make bench`: run every benchmark in bench/ in one process and print one table.

Each module exposes `run() -> list[Row]`; ratios are measured side by side within that run.
Pass module names to run a subset: `python -m bench leaderboard offline_grader`.
"""

from __future__ import annotations

import importlib
import sys
import time

from bench.common import Row, print_rows

MODULES = ["slack_ack", "slack_oauth", "slack_stream", "leaderboard", "dashboard", "fanout", "grading_throughput", "offline_grader", "idle_rss"]


def main(names: list[str]) -> int:
    rows: list[Row] = []
    for name in names or MODULES:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                continue  # not written yet
            raise
        started = time.perf_counter()
        print(f"running bench.{name} ...", file=sys.stderr, flush=True)
        rows.extend(module.run())
        print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print_rows(rows)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
