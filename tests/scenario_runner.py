"""Closed-loop scenario runner, the same on CPython and the MicroPython unix port.

Each cycle: the simulated site (host_tools.site_model) gives the readings a real
controller would see; the engine allocates; each car gets its allocation as its limit;
time advances one cycle and the cars and the battery respond. After the run the
allocations of the last ``settle_cycles`` cycles must all equal the expected values
(within ``tolerance``), and after the first ``settle_cycles`` cycles: no phase may import
more than the main breaker, the site no more than ``site.max_import_w`` (nor than
``max_grid_import_w``, no phase more than ``max_phase_import_a``, when the scenario sets
them), and an off-grid site's inverter must carry every load within its limits.
``checkpoints`` (optional) name allocations at given cycles on the way.

Usage under MicroPython: ``micropython tests/scenario_runner.py IN.json OUT.json``
(IN: a list of scenarios as tests/run_scenarios.py writes them; OUT: the results).
"""
import json
import sys

from dynevse.core.engine import allocate
from host_tools.site_model import SiteModel

DEFAULT_CYCLES = 60
DEFAULT_SETTLE = 10
DEFAULT_CYCLE_S = 5.0
DEFAULT_TOLERANCE = 0.1


def _charger_cfg(c):
    out = {}
    for k in c:
        if k != "car":
            out[k] = c[k]
    return out


def _expected(sc):
    """{charger id: (allocated or None, available or None)}"""
    out = {}
    exp = sc.get("expect") or {}
    for cid in exp:
        v = exp[cid]
        if isinstance(v, dict):
            out[cid] = (v.get("allocated"), v.get("available"))
        else:
            out[cid] = (v, None)
    return out


def run_scenario(sc):
    """Run one scenario; returns a result dict (name, passed, failures, history)."""
    site_cfg = sc["site"]
    chargers = sc["chargers"]
    model = SiteModel(sc.get("world", {}), site_cfg, chargers)
    sensors = sc.get("sensors", {})
    cycles = sc.get("cycles", DEFAULT_CYCLES)
    settle = sc.get("settle_cycles", DEFAULT_SETTLE)
    dt = sc.get("cycle_s", DEFAULT_CYCLE_S)
    tol = sc.get("tolerance", DEFAULT_TOLERANCE) + 1e-6
    breaker = site_cfg.get("breaker_a", 25)
    import_w = [x for x in (site_cfg.get("max_import_w"), sc.get("max_grid_import_w")) if x]
    if sc.get("max_grid_import_w") == 0:
        import_w.append(0)
    max_import_w = min(import_w) if import_w else None
    max_phase_a = sc.get("max_phase_import_a")
    cfgs = [_charger_cfg(c) for c in chargers]
    ids = [c["id"] for c in chargers]
    state = None
    history = []      # per cycle: [allocated per charger]
    avail_hist = []
    failures = []
    worst_import = None
    for cycle in range(cycles):
        site = {}
        for k in site_cfg:
            site[k] = site_cfg[k]
        readings = model.readings(sensors)
        for k in readings:
            site[k] = readings[k]
        live = model.charger_live()
        chs = []
        for i in range(len(cfgs)):
            c = {}
            for k in cfgs[i]:
                c[k] = cfgs[i][k]
            for k in live[i]:
                c[k] = live[i][k]
            chs.append(c)
        r = allocate(site, chs, state)
        state = r["state"]
        alloc = [x["allocated_a"] for x in r["chargers"]]
        history.append(alloc)
        avail_hist.append([x["available_a"] for x in r["chargers"]])
        if cycle >= settle:
            for p in range(len(model.grid_a)):
                g = model.grid_a[p]
                if g > breaker + 0.05:
                    failures.append("cycle %d: phase %s imports %.2f A, above the %s A breaker"
                                    % (cycle, "ABC"[p], g, breaker))
                if worst_import is None or g > worst_import:
                    worst_import = g
                if max_phase_a is not None and g > max_phase_a + 0.01:
                    failures.append("cycle %d: phase %s imports %.2f A, above the scenario's %s A"
                                    % (cycle, "ABC"[p], g, max_phase_a))
            total_w = sum(model.grid_a) * model.volts
            if max_import_w is not None and total_w > max_import_w + 1:
                failures.append("cycle %d: the site imports %.0f W, above %s W" % (cycle, total_w, max_import_w))
            if model.unsupplied_w > 1:
                failures.append("cycle %d: off-grid, %.0f W of load has no supply" % (cycle, model.unsupplied_w))
            over = model.inverter_overload_w()
            if over > 1:
                failures.append("cycle %d: the inverter is %.0f W over its max" % (cycle, over))
        model.set_limits(alloc)
        model.step(dt)
    exp = _expected(sc)
    for cid in sorted(exp):
        if cid not in ids:
            failures.append("expect names unknown charger %r" % cid)
            continue
        i = ids.index(cid)
        want_alloc, want_avail = exp[cid]
        for cycle in range(max(0, cycles - settle), cycles):
            if want_alloc is not None and abs(history[cycle][i] - want_alloc) > tol:
                failures.append("%s: allocated %.1f A at cycle %d, expected %.1f A"
                                % (cid, history[cycle][i], cycle, want_alloc))
                break
            if want_avail is not None and abs(avail_hist[cycle][i] - want_avail) > tol:
                failures.append("%s: available %.1f A at cycle %d, expected %.1f A"
                                % (cid, avail_hist[cycle][i], cycle, want_avail))
                break
    for cp in sc.get("checkpoints") or ():
        # an allocation at one cycle on the way (a mode that must change while SOC moves)
        cycle = cp["cycle"]
        for cid in sorted(cp):
            if cid == "cycle":
                continue
            if cid not in ids or cycle >= len(history):
                failures.append("checkpoint at cycle %s names %r" % (cycle, cid))
            elif abs(history[cycle][ids.index(cid)] - cp[cid]) > tol:
                failures.append("%s: allocated %.1f A at cycle %d, expected %.1f A"
                                % (cid, history[cycle][ids.index(cid)], cycle, cp[cid]))
    if len(failures) > 5:
        failures = failures[:5] + ["... %d more" % (len(failures) - 5)]
    return {
        "name": sc["name"],
        "passed": not failures,
        "failures": failures,
        "final": history[-1] if history else [],
        "history": history,
        "max_import_a": worst_import,
    }


def run_all(scenarios):
    return [run_scenario(sc) for sc in scenarios]


def run_file(argv, run_one):
    """Run every case of the JSON file argv[1] with ``run_one``; write the results to
    argv[2]. A case that crashes fails, the others go on."""
    with open(argv[1]) as f:
        cases = json.load(f)
    results = []
    for case in cases:
        try:
            results.append(run_one(case))
        except Exception as e:
            results.append({"name": case.get("name"), "passed": False,
                            "failures": ["crashed: %s: %s" % (type(e).__name__, e)],
                            "final": [], "history": []})
    with open(argv[2], "w") as f:
        json.dump(results, f)


def main(argv):
    run_file(argv, run_scenario)


if __name__ == "__main__":
    main(sys.argv)
