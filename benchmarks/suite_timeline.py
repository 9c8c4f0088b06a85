"""Where a parallel test run's minutes go: run the suite with VIBOT_TEST_TIMELINE=FILE, then

    python benchmarks/suite_timeline.py FILE

prints each worker's busy time, its idle gaps, when it finished, and what ran last: a
worker that ends long before the other is time the split left on the table. Then the tests
that used the most CPU (their process and the subprocesses they waited for): on two busy
cores the suite's wall time follows its CPU seconds, not the seconds tests spend waiting."""

from __future__ import annotations

import sys
from collections import defaultdict
from itertools import pairwise
from pathlib import Path


def main(path: Path) -> None:
    runs: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    cpu: dict[str, float] = {}
    for line in path.read_text().splitlines():
        worker, start, end, nodeid, *used = line.split("\t")
        runs[worker].append((float(start), float(end), nodeid))
        if used:
            cpu[nodeid] = float(used[0])
    first = min(start for tests in runs.values() for start, _, _ in tests)
    last = max(end for tests in runs.values() for _, end, _ in tests)
    print(f"from the first test's start to the last one's end: {last - first:.1f} s")
    for worker, tests in sorted(runs.items()):
        tests.sort()
        busy = sum(end - start for start, end, _ in tests)
        gaps = [(b[0] - a[1], a[2]) for a, b in pairwise(tests) if b[0] - a[1] > 2]
        print(
            f"{worker}: {len(tests)} tests, busy {busy:.1f} s, starts at +{tests[0][0] - first:.1f} s, "
            f"ends at +{tests[-1][1] - first:.1f} s, idle gaps over 2 s: {sum(g for g, _ in gaps):.1f} s"
        )
        for gap, before in sorted(gaps, reverse=True)[:3]:
            print(f"    {gap:5.1f} s idle after {before}")
        for start, end, nodeid in tests[-3:]:
            print(f"    last: +{start - first:6.1f}..+{end - first:6.1f} s {nodeid}")
    if cpu:
        print(f"CPU seconds of all tests: {sum(cpu.values()):.0f}; the most:")
        for nodeid, seconds in sorted(cpu.items(), key=lambda item: -item[1])[:25]:
            print(f"    {seconds:6.1f} s {nodeid}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
