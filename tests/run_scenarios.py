"""Run the closed-loop scenarios and the timelines on CPython and the MicroPython unix port.

Reads tests/scenarios/*.yaml and tests/timelines/*.yaml (human-readable, with the
reasoning behind each expected value in comments), hands the same data to
tests/scenario_runner.py / tests/timeline_runner.py on both runtimes, and compares.
Prints ``scenarios: N passed, M failed`` and ``timelines: N passed, M failed``; exits
non-zero if anything failed on either runtime or the runtimes disagree by more than 0.1 A.

    python tests/run_scenarios.py [-k SUBSTRING] [-v] [--only scenarios|timelines]
"""
import json
import os
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), ROOT, os.path.join(ROOT, "tests")]

import scenario_runner  # noqa: E402
import timeline_runner  # noqa: E402

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
AGREE_A = 0.1 + 1e-6
REQUIRED = {"scenarios": ("name", "site", "chargers", "expect"),
            "timelines": ("name", "site", "chargers", "duration_s", "asserts")}
RUNNERS = {"scenarios": (scenario_runner, "tests/scenario_runner.py"),
           "timelines": (timeline_runner, "tests/timeline_runner.py")}


def load(directory, kind):
    """Load and sanity-check every scenario file of a directory, sorted by name."""
    out = []
    names = set()
    for fn in sorted(os.listdir(directory)):
        if not fn.endswith(".yaml"):
            continue
        path = os.path.join(directory, fn)
        with open(path) as f:
            sc = yaml.safe_load(f)
        if not isinstance(sc, dict):
            raise SystemExit("%s: not a scenario mapping" % path)
        for key in REQUIRED[kind]:
            if key not in sc:
                raise SystemExit("%s: missing %r" % (path, key))
        if sc["name"] != fn[:-5]:
            raise SystemExit("%s: name %r must equal the file name" % (path, sc["name"]))
        if sc["name"] in names:
            raise SystemExit("%s: duplicate name" % path)
        names.add(sc["name"])
        out.append(sc)
    return out


def run_micropython(scenarios, tag, script):
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    src = os.path.join(ROOT, "build", "%s-in.json" % tag)
    dst = os.path.join(ROOT, "build", "%s-micropython.json" % tag)
    with open(src, "w") as f:
        json.dump(scenarios, f)
    env = dict(os.environ, MICROPYPATH=".frozen:firmware:.:tests")
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=64M", script, src, dst], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        raise SystemExit("micropython runner failed (exit %d)" % r.returncode)
    with open(dst) as f:
        return json.load(f)


def disagreement(a, b):
    """Largest difference between two runs' allocation histories, in A."""
    ha, hb = a.get("history") or [], b.get("history") or []
    if len(ha) != len(hb):
        return float("inf")
    worst = 0.0
    for ra, rb in zip(ha, hb):
        if len(ra) != len(rb):
            return float("inf")
        for x, y in zip(ra, rb):
            worst = max(worst, abs(x - y))
    return worst


def report(kind, scenarios, verbose):
    module, script = RUNNERS[kind]
    t0 = time.time()
    cpy = module.run_all(scenarios)
    t1 = time.time()
    mpy = run_micropython(scenarios, kind, script)
    t2 = time.time()
    passed = failed = 0
    for sc, a, b in zip(scenarios, cpy, mpy):
        diff = disagreement(a, b)
        ok = a["passed"] and b["passed"] and diff <= AGREE_A
        if ok:
            passed += 1
            if verbose:
                print("ok   %s  final %s" % (sc["name"], a["final"]))
            continue
        failed += 1
        print("FAIL %s" % sc["name"])
        for tag, res in (("cpython", a), ("micropython", b)):
            for line in res["failures"]:
                print("     %s: %s" % (tag, line))
        if diff > AGREE_A:
            print("     runtimes disagree by %.2f A" % diff)
    n_cpy = sum(1 for r in cpy if r["passed"])
    n_mpy = sum(1 for r in mpy if r["passed"])
    print("%s on cpython: %d passed, %d failed (%.1f s)" % (kind, n_cpy, len(cpy) - n_cpy, t1 - t0))
    print("%s on micropython: %d passed, %d failed (%.1f s)" % (kind, n_mpy, len(mpy) - n_mpy, t2 - t1))
    return passed, failed


def main(argv):
    verbose = "-v" in argv
    only = argv[argv.index("-k") + 1] if "-k" in argv else None
    kinds = ("scenarios", "timelines")
    if "--only" in argv:
        kinds = (argv[argv.index("--only") + 1],)
    totals = []
    for kind in kinds:
        items = load(os.path.join(ROOT, "tests", kind), kind)
        if only:
            items = [s for s in items if only in s["name"]]
        if not items:
            if only:
                continue
            raise SystemExit("no %s found" % kind)
        totals.append((kind,) + report(kind, items, verbose))
    for kind, passed, failed in totals:
        print("%s: %d passed, %d failed" % (kind, passed, failed))
    return 1 if any(f for _k, _p, f in totals) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
