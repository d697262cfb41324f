"""Run the MQTT link standalone with a simulated control loop, on either runtime.

    MICROPYPATH=.frozen:firmware micropython tests/mqtt/standalone.py setup.json
    PYTHONPATH=firmware python -u tests/mqtt/standalone.py setup.json

``setup.json``: {"device_id", "mqtt": {...MQTT settings...}, "site": {...site settings...},
"chargers": [...charger settings...], "period_ms": 500, "report_ms": 500, "run_s": 300,
"hub_name": "Panel", "url": "http://...", "engine": true}.

Every ``period_ms`` the loop reads the site data from MQTT, runs the real allocation
engine (or, with ``"engine": false``, a fixed result, to measure the MQTT part's memory
alone) and hands the state to the link, as the app will. It writes one JSON object per
line to stdout: ``{"ev": "cycle", ...}`` every ``report_ms`` (cycle count, the longest
gap between two cycle starts, the link's status, the readings, heap in use on
MicroPython), ``{"ev": "command", ...}`` for each applied command and ``{"ev":
"refused", ...}`` when the app (here: the schema check of the whole setup) refuses one.
Commands change the in-memory setup only; nothing is persisted.
"""
import asyncio
import gc
import json
import sys

from dynevse.aio import ticks_ms, ticks_diff, sleep_ms, wait_for, TimeoutError
from dynevse.core import schema


def heap_used():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else None


# what the MQTT package costs: heap in use before it is imported, then after
HEAP = {"before_mqtt": heap_used()}
from dynevse.mqtt.link import Link          # noqa: E402
from dynevse.mqtt.state import snapshot     # noqa: E402
HEAP["mqtt_code"] = heap_used()


def out(d):
    sys.stdout.write(json.dumps(d) + "\n")
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()


class App:
    def __init__(self, setup):
        self.setup = setup
        self.site = setup["site"]
        self.chargers = setup["chargers"]
        self.state = None

    def on_command(self, target, key, value):
        """Apply a command to a copy of the setup, check the whole setup, then keep it."""
        site = dict(self.site)
        chargers = [dict(c) for c in self.chargers]
        if key == "reset":
            out({"ev": "command", "target": target, "key": key, "value": None})
            return
        if target == "site":
            if key in ("soc_min", "soc_target"):
                site["battery"] = dict(site.get("battery") or {})
                site["battery"][key] = value
            else:
                site[key] = value
        else:
            for c in chargers:
                if c["id"] == target:
                    c[key] = value
        try:
            schema.check_setup(site, chargers, strict=True)
        except schema.ConfigError as e:
            out({"ev": "refused", "target": target, "key": key, "error": str(e)})
            raise
        self.site = site
        self.chargers = chargers
        out({"ev": "command", "target": target, "key": key, "value": value})

    def cycle(self, data):
        site = dict(self.site)
        for k in ("grid_a", "grid_w", "grid_total_w", "voltage", "solar_w", "battery_soc", "battery_w"):
            if k in data:
                site[k] = data[k]
        live = []
        for c in self.chargers:
            d = dict(c)
            d["status"] = "Charging"
            live.append(d)
        if self.setup.get("engine", True):
            from dynevse.core import engine
            result = engine.allocate(site, live, self.state)
        else:
            result = {"chargers": [{"id": c["id"], "allocated_a": 6.0, "target_a": 6.0,
                                    "available_a": 6.0, "mode": "standard", "active": True,
                                    "phases_in_use": 3, "limited_by": "none"} for c in live],
                      "site": {"headroom_a": [10.0, 10.0, 10.0], "net_w": 0, "surplus_w": 0,
                               "solar_w": site.get("solar_w"), "export_w": 0, "warnings": []},
                      "state": {}}
        self.state = result["state"]
        site_cfg, chargers_cfg, _groups = schema.check_setup(self.site, self.chargers)
        return snapshot(result, site_cfg, chargers_cfg,
                        {"chargers": {c["id"]: {"status": "Charging"} for c in self.chargers}})


async def control_loop(link, app, setup):
    period = setup.get("period_ms", 500)
    report = setup.get("report_ms", 500)
    last = ticks_ms()
    last_report = last
    max_gap = 0
    n = 0
    while True:
        await sleep_ms(period)
        now = ticks_ms()
        gap = ticks_diff(now, last)
        last = now
        if gap > max_gap:
            max_gap = gap
        n += 1
        data = link.readings(now)
        site, chargers = app.cycle(data)
        link.publish_state(site, chargers)
        if ticks_diff(now, last_report) >= report:
            last_report = now
            readings = {}
            for k in data:
                if k not in ("at_ms", "age_ms"):
                    readings[k] = data[k]
            out({"ev": "cycle", "n": n, "max_gap_ms": max_gap, "period_ms": period,
                 "status": link.status(), "readings": readings, "heap": heap_used(),
                 "heap_steps": HEAP, "site": app.site, "chargers": app.chargers})


async def main(path):
    with open(path) as f:
        setup = json.load(f)
    app = App(setup)
    site_cfg, chargers_cfg, _groups = schema.check_setup(app.site, app.chargers, strict=True)
    if setup.get("engine", True):
        from dynevse.core import engine  # noqa: F401  (loaded before measuring the link)
    HEAP["app"] = heap_used()
    link = Link(setup["mqtt"], setup["device_id"], on_command=app.on_command)
    link.register(setup.get("hub_name", "Panel"), site_cfg["phases"], site_cfg["battery"] is not None,
                  [{"id": c["id"], "name": c.get("name", c["id"])} for c in chargers_cfg],
                  setup.get("url", ""))
    HEAP["mqtt_objects"] = heap_used()
    out({"ev": "ready", "impl": sys.implementation.name, "heap": HEAP["mqtt_objects"]})
    loop_task = asyncio.create_task(control_loop(link, app, setup))
    asyncio.create_task(link.run())
    try:
        # the control loop runs until run_s; if it dies, so does the process
        await wait_for(loop_task, setup.get("run_s", 300))
    except TimeoutError:
        pass
    await link.stop()
    await sleep_ms(100)
    out({"ev": "stopped"})


asyncio.run(main(sys.argv[1]))
