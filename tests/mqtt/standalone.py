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
MicroPython, the MQTT and schema modules loaded), ``{"ev": "command", ...}`` for each
applied command and ``{"ev": "refused", ...}`` when the app (here: the cross-field rules
of ``app.on_command``) refuses one. Commands change the in-memory setup only; nothing is
persisted.

It boots like the app: the settings are validated once (``config.check``,
``config.schema``), those modules are dropped, and the link gets the validated settings
as they are; the configuration's tables are loaded again only for a command, and dropped.
Heap: ``before_mqtt``, ``mqtt_code`` (the resident MQTT modules imported), ``boot``
(after validation and the drop: what validation leaves behind), ``app`` (the app's own
data, and a listening socket as the firmware's web server has: asyncio's Event, streams
and I/O queue are in use before MQTT starts),
``mqtt_objects`` (the link created and registered); each cycle's ``heap`` is taken right
after the state was handed to the link, between cycles as the app does (the cycle's
own data gone), before the report is built.
"""
import asyncio
import gc
import json
import sys

from dynevse.aio import ticks_ms, ticks_diff, sleep_ms, wait_for, TimeoutError

BOOT_ONLY = ("dynevse.config.check", "dynevse.config.fields", "dynevse.config.site", "dynevse.config.schema")


def heap_used():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else None


def drop(names):
    """Forget modules only needed at boot, as the app does."""
    for name in names:
        mod = sys.modules.pop(name, None)
        parent, _, child = name.rpartition(".")
        pkg = sys.modules.get(parent)
        if mod is not None and getattr(pkg, child, None) is mod:
            delattr(pkg, child)


def loaded():
    """The MQTT and schema modules in memory now."""
    return sorted(n for n in sys.modules if n.startswith("dynevse.mqtt.") or n.startswith("dynevse.config."))


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
    def __init__(self, setup, settings):
        self.setup = setup
        self.site = setup["site"]
        self.chargers = setup["chargers"]
        self.settings = settings    # config.check.check_setup(site, chargers): (site, chargers, groups)
        self.state = None

    def on_command(self, target, key, value):
        """Apply a command as the app does: its cross-field rules on the validated
        settings, then the change in place (the schema is loaded only to refuse)."""
        if key == "reset":
            out({"ev": "command", "target": target, "key": key, "value": None})
            return
        site_cfg, chargers_cfg, _groups = self.settings
        if target == "site":
            if key in ("soc_min", "soc_target"):
                bat = site_cfg["battery"]
                lo, hi = (value, bat["soc_target"]) if key == "soc_min" else (bat["soc_min"], value)
                if lo > hi:
                    self.refuse(target, key, "site.battery." + key,
                                "must keep soc_min (%s) <= soc_target (%s)" % (lo, hi))
                bat[key] = self.site["battery"][key] = value
            else:
                site_cfg[key] = self.site[key] = value
        else:
            i = [c["id"] for c in chargers_cfg].index(target)
            c = chargers_cfg[i]
            if key == "min_a" and value > c["max_a"]:
                self.refuse(target, key, "chargers[%d].min_a" % i,
                            "must not be above max_a (%s A), got %s" % (c["max_a"], value))
            if key == "max_a" and value < c["min_a"]:
                self.refuse(target, key, "chargers[%d].max_a" % i,
                            "must not be below min_a (%s A), got %s" % (c["min_a"], value))
            c[key] = self.chargers[i][key] = value
        out({"ev": "command", "target": target, "key": key, "value": value})

    def refuse(self, target, key, field, message):
        out({"ev": "refused", "target": target, "key": key, "error": "%s: %s" % (field, message)})
        new = [n for n in BOOT_ONLY if n not in sys.modules]
        try:
            from dynevse.config.schema import ConfigError
            raise ConfigError(field, message)
        finally:
            drop(new)

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
            result = engine.allocate(site, live, self.state, self.settings)
        else:
            result = {"chargers": [{"id": c["id"], "allocated_a": 6.0, "target_a": 6.0,
                                    "available_a": 6.0, "mode": "standard", "active": True,
                                    "phases_in_use": 3, "limited_by": "none"} for c in live],
                      "site": {"headroom_a": [10.0, 10.0, 10.0], "net_w": 0, "surplus_w": 0,
                               "solar_w": site.get("solar_w"), "export_w": 0, "warnings": []},
                      "state": {}}
        self.state = result["state"]
        site_cfg, chargers_cfg, _groups = self.settings
        return snapshot(result, site_cfg, chargers_cfg,
                        {"chargers": {c["id"]: {"status": "Charging"} for c in self.chargers}})


async def web_server(r, w):
    w.close()


def cycle(link, app, now):
    # a function of its own, as in the app: nothing of the cycle stays behind in a frame
    link.publish_state(*app.cycle(link.readings(now)))


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
        cycle(link, app, now)
        heap = heap_used()      # between cycles, as the app measures it
        if ticks_diff(now, last_report) >= report:
            last_report = now
            data = link.readings(now)
            readings = {}
            for k in data:
                if k not in ("at_ms", "age_ms"):
                    readings[k] = data[k]
            out({"ev": "cycle", "n": n, "max_gap_ms": max_gap, "period_ms": period,
                 "status": link.status(), "readings": readings, "heap": heap,
                 "heap_steps": HEAP, "site": app.site, "chargers": app.chargers, "modules": loaded()})


async def main(path):
    with open(path) as f:
        setup = json.load(f)
    # boot: validate everything once, then forget the validation code
    from dynevse.config.check import check_mqtt, check_setup
    settings = check_setup(setup["site"], setup["chargers"], strict=True)
    mqtt_cfg = check_mqtt(setup["mqtt"], setup["device_id"])
    check_setup = check_mqtt = None
    drop(BOOT_ONLY)
    HEAP["boot"] = heap_used()
    app = App(setup, settings)
    site_cfg, chargers_cfg, _groups = settings
    if setup.get("engine", True):
        from dynevse.core import engine  # noqa: F401  (loaded before measuring the link)
    # the firmware's web server (microdot, OCPP) listens all the time: asyncio's Event,
    # streams and I/O queue are in use before MQTT starts
    asyncio.Event()
    web = await asyncio.start_server(web_server, "127.0.0.1", 0)
    HEAP["app"] = heap_used()
    link = Link(mqtt_cfg, setup["device_id"], on_command=app.on_command)
    link.register(setup.get("hub_name", "Panel"), site_cfg["phases"], site_cfg["battery"] is not None,
                  [{"id": c["id"], "name": c.get("name", c["id"])} for c in chargers_cfg],
                  setup.get("url", ""))
    HEAP["mqtt_objects"] = heap_used()
    out({"ev": "ready", "impl": sys.implementation.name, "heap": HEAP["mqtt_objects"], "modules": loaded()})
    loop_task = asyncio.create_task(control_loop(link, app, setup))
    asyncio.create_task(link.run())
    try:
        # the control loop runs until run_s; if it dies, so does the process
        await wait_for(loop_task, setup.get("run_s", 300))
    except TimeoutError:
        pass
    await link.stop()
    await sleep_ms(100)
    web.close()
    out({"ev": "stopped"})


asyncio.run(main(sys.argv[1]))
