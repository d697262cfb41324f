"""The firmware's tasks wired together: OCPP server, MQTT link, Wi-Fi, site data and the
control loop.

``start.build`` makes the parts (from the checked configuration) and hands them to
``App``; ``main.py`` runs it. A task that fails is logged and restarted; it never stops
the others. The watchdog is fed by the control loop only, so a stuck loop resets the
board. Should the tasks themselves stop on an error, the board goes to the safe state
(``dynevse.safe``) instead of ending.

The configuration is never changed in place: a command goes through
``dynevse.config.change``, which checks and stores the whole new configuration, and the
app swaps it in (``use``).
"""
import asyncio
import gc

from dynevse import log
from dynevse.aio import forget, sleep_ms, ticks_diff
from dynevse.core.detect import Detector
from dynevse.core.engine import milli
from dynevse.core.phases import grid_ma
from dynevse.meter import site_readings

_RESTART_MS = 2000
_OVERLOAD_GAP_MS = 250    # an overload runs a cycle at once, but at most one per this long
_CONFIG = ("dynevse.config.",)



async def supervise(name, factory):
    """Run ``factory()`` for ever: a task that ends or fails is logged and restarted."""
    while True:
        try:
            await factory()
            log.warning("%s ended; restarting", name)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failed task must not stop the others
            log.error("%s failed: %s: %s; restarting", name, type(e).__name__, e)
            log.exception(e)
        await sleep_ms(_RESTART_MS)


class App:
    """``cfg``: the checked configuration; ``regulator``, ``central`` and ``link`` (None
    without MQTT) are made from it by ``start.build``."""

    def __init__(self, board, cfg, regulator, central, link):
        self.board = board
        self.regulator = regulator
        self.central = central
        self.link = link
        if link is not None:
            link.on_command = self.on_command
            link.on_overload = self.on_overload
        self.loop_task = None       # the control loop's task; an overload wakes it
        self._asleep = False        # it sleeps until its next tick
        self._overload = False      # an overload arrived since the last cycle
        self.wifi = None
        self.tasks = []
        self.cycles = 0
        self.last_status = ""
        self.peak_heap = 0          # heap in use after a cycle's collection, highest so far
        self.heap_now = 0
        self.mqtt_error = ""
        self.view = None            # the last cycle as the status page shows it (keep_view)
        self.web_token = None       # the status page's actions: CSRF token, wrong passwords
        self.password_lock = None   # their wrong passwords' lock (web.password)
        self.energy = None          # the chargers' energy totals (for Home Assistant)
        self._address = None        # the board's address the registration's page link has
        # the phase maps and grid signs the chargers' steps show (the clamps have no sign)
        self.detector = Detector(cfg["control"]["grid_source"] == "mqtt")
        self.found = ([], "")       # what it found (Detector.found)
        self.cfg = None
        self.use(cfg)
        if link is not None:
            if central is not None:
                link.hold = central.setting_up     # discovery after the chargers' setup
            from dynevse.energy import Energy
            self.energy = Energy(board, [c["id"] for c in cfg["chargers"]])

    def use(self, cfg):
        """Run with ``cfg`` (a checked configuration) from the next cycle on."""
        old = self.cfg
        self.cfg = cfg
        self.engine_cfg = (cfg["site"], cfg["chargers"], cfg["site"]["groups"])
        if self.link is not None:
            site = cfg["site"]
            self.link.inputs.watch(site["breaker_a"] - site["breaker_margin_a"], site["voltage_v"],
                                   site["phases"])
            if old is not None and self.link.inputs.signs(cfg["mqtt"]["inputs"]):
                self.detector.grid_changed()    # the samples and the sign finding were the old sign's

    # -- tasks -------------------------------------------------------------------------

    async def serve_http(self):
        from dynevse.web.front import Front
        host, port = self.board.listen_address(self.cfg["web"]["port"])
        shown = "<this board>" if host == "0.0.0.0" else host
        log.info("OCPP: ws://%s:%d/ocpp/<chargePointId>", shown, port)
        log.info("status page: http://%s:%d/", shown, port)

        async def pages(*req):
            # loaded for the request and forgotten: the page is looked at rarely
            from dynevse.web.status import page
            try:
                await page(self, *req)
            finally:
                forget(("dynevse.web.status", "dynevse.web.actions", "dynevse.web.password"))
        await Front(self.central, pages).serve(host, port)

    async def control_loop(self):
        period_ms = int(self.cfg["control"]["cycle_s"] * 1000)
        while True:
            t0 = self.board.monotonic_ms()
            self.cycle()
            self.board.watchdog_feed()
            self.board.led(self.cycles & 1)       # blinks while the loop runs
            gc.collect()
            if hasattr(gc, "mem_alloc"):
                self.heap_now = gc.mem_alloc()
                if self.heap_now > self.peak_heap:
                    self.peak_heap = self.heap_now
            self._overload = False
            wait = period_ms - ticks_diff(self.board.monotonic_ms(), t0)
            if wait <= 0:
                await sleep_ms(0)
                continue
            self._asleep = True
            try:
                await sleep_ms(wait)
            except asyncio.CancelledError:
                if not self._overload:      # not ours: the task is being stopped
                    raise
            self._asleep = False
            if self._overload:              # rate-limited, so a flood can't starve the loop
                wait = _OVERLOAD_GAP_MS - ticks_diff(self.board.monotonic_ms(), t0)
                if wait > 0:
                    await sleep_ms(wait)

    def on_overload(self):
        """A grid sample over a phase's limit arrived (from the MQTT reader): run the
        control cycle now instead of at its next tick. It cancels the loop's sleep: a
        task asleep costs less than one waiting for an Event with a timeout."""
        self._overload = True
        if self._asleep and self.loop_task is not None:
            self._asleep = False
            self.loop_task.cancel()

    # -- one control cycle -------------------------------------------------------------

    def charger_live(self, now_ms, now_s):
        """Each charger's live data from its OCPP session, as the regulator takes it: with
        the limit its sender has in force (``delivered_a``; ``delivered_s`` when the
        charger accepted it, on the regulator's clock) and whether it takes our profiles
        (``control``)."""
        out = []
        for c in self.cfg["chargers"]:
            s = self.central.charger(c["id"])
            live = {}
            for k in c:
                live[k] = c[k]
            live["delivered_a"] = live["delivered_s"] = None
            live["control"] = "pending" if s is None else s.control
            live["fallback_held"] = s is not None and s.fallback_held
            if s is None or not s.connected:
                live["connected"] = False
                live["status"] = "Unavailable"
            else:
                at_ms = s.delivered_ms
                if at_ms is not None:
                    live["delivered_a"] = s.delivered_a
                    live["delivered_s"] = now_s - ticks_diff(now_ms, at_ms) / 1000
                live["status"] = s.status()
                cur = s.meter.get("current_a")
                if cur is not None:
                    live["draw_a"] = [x if x is not None else 0.0 for x in cur[0]]
                    live["meter_age_s"] = ticks_diff(now_ms, cur[1]) / 1000
                off = s.meter.get("offered_a")
                if off is not None:
                    live["offered_a"] = off[0]
            out.append(live)
        return out

    def cycle(self):
        cfg = self.cfg
        now_ms = self.board.monotonic_ms()
        mqtt = self.link.readings(now_ms) if self.link is not None else None
        ct = self.board.read_ct() if cfg["control"]["grid_source"] == "ct" else None
        readings, ages = site_readings(cfg["control"]["grid_source"], ct, 0, mqtt)
        site = {}
        for k in cfg["site"]:
            site[k] = cfg["site"][k]
        for k in readings:
            site[k] = readings[k]
        now_s = self.board.monotonic_s()
        chargers = self.charger_live(now_ms, now_s)
        out = self.regulator.step(now_s, site, chargers, ages, self.engine_cfg)
        self.cycles += 1
        self.detect(now_s, readings, ages, chargers, out["site"]["grid_stale"])
        self.keep_view(readings, out, chargers)
        # every cycle, the limit each charger should have: its session's sender delivers
        # it (on change and before it lapses, 0 A included)
        for row in out["chargers"]:
            session = self.central.charger(row["id"])
            if session is not None:
                session.want_limit(row["limit_a"], row["phases_in_use"])
                if row["clear_and_resend"]:
                    session.clear_and_resend()
        if self.link is not None:
            self.publish(out, chargers, readings, ages)
            err = self.link.client.last_error
            if err != self.mqtt_error:          # say it once, when it changes
                self.mqtt_error = err
                if err:
                    log.warning("mqtt: %s", err)
        self.log_status(readings, out, chargers)

    def detect(self, now_s, readings, ages, chargers, grid_stale):
        """Show the cycle to the detector (a grid the regulator does not believe, stale or
        implausible, is no sample); log what it finds when that changes."""
        cfg = self.cfg
        grid = [] if grid_stale else grid_ma(readings, cfg["site"])
        age = 0
        for k in ("grid_a", "grid_w"):
            if readings.get(k) is not None and (ages.get(k) or 0) > age:
                age = ages[k]
        rows = []
        for c in chargers:
            n = len(c["phase_map"])
            d = c.get("draw_a")
            if c.get("connected", True) is False or d is None and c["status"] == "Available":
                rows.append((c["id"], c["phase_map"], [0] * n, now_s))    # draws nothing we could see change
            elif d is None:
                rows.append((c["id"], c["phase_map"], None, None))        # a car, but no meter values
            else:
                rows.append((c["id"], c["phase_map"], [milli(d[i]) if i < len(d) else 0 for i in range(n)],
                             now_s - c.get("meter_age_s", 0)))
        self.detector.observe(now_s, grid, now_s - age, rows)
        found = self.detector.found(cfg["chargers"])
        if found != self.found:
            from dynevse.core.status import findings    # words only when something changed
            before = findings(self.found)
            for t in findings(found):
                if t not in before:
                    log.warning("detection: %s", t)
            self.found = found

    def keep_view(self, readings, out, chargers):
        """What the status page shows of this cycle, kept small (it stays between cycles):
        (grid A per phase or None, grid stale, [(id, status, limit A, highest draw A or
        None, reason, paused s left, connected, control, not following its profile)])."""
        rows = []
        for i in range(len(chargers)):
            row = out["chargers"][i]
            c = chargers[i]
            draw = c.get("draw_a")
            rows.append((row["id"], c["status"], row["limit_a"], max(draw) if draw else None, row["reason"],
                         row.get("paused_left_s", 0), c.get("connected", True), c.get("control"),
                         bool(row["clear_and_resend"])))
        self.view = (readings.get("grid_a"), bool(out["site"].get("grid_stale")), rows)

    def publish(self, out, chargers, readings, ages):
        """This cycle's state to Home Assistant: the site as read, each charger's
        measurements and energy from its OCPP session, the regulator's words."""
        from dynevse.mqtt.state import charger_values, regulation_text, site_values, snapshot
        cfg = self.cfg
        reg = cfg["regulation"]
        self.registration()
        now_ms = self.board.monotonic_ms()
        site = site_values(readings, ages, cfg["site"], reg["grid_max_age_s"], reg["input_max_age_s"])
        site["warnings"] = ["grid_stale"] if out["site"].get("grid_stale") else []
        if self.found[0]:
            site["warnings"].append("phase_map_mismatch")
        if self.found[1]:
            site["warnings"].append("grid_sign_inverted")
        live = {"site": site, "chargers": {}}
        for i in range(len(chargers)):
            row = out["chargers"][i]
            v = charger_values(self.central.charger(row["id"]), now_ms, reg["meter_max_age_s"], self.energy)
            v["status"] = chargers[i]["status"]
            v["reason"] = row["reason"]
            v["regulation"] = regulation_text(row)
            v["phase_map_suggested"] = None
            for cid, m, _configured in self.found[0]:     # this cycle's (detect)
                if cid == row["id"]:
                    v["phase_map_suggested"] = m
            live["chargers"][row["id"]] = v
        self.link.publish_state(*snapshot(out["engine"], cfg["site"], cfg["chargers"], live))

    def registration(self):
        """Register with Home Assistant again when the board's address (its page's link)
        or a charger's own vendor, model or firmware (its BootNotification) changed, or a
        charger is not registered yet."""
        link = self.link
        cfg = self.cfg
        changed = False
        a = self.wifi.address if self.wifi is not None else None
        if a != self._address:
            self._address = a
            changed = True
        for c in cfg["chargers"]:
            s = self.central.charger(c["id"])
            known = link.registered(c["id"])
            if known is None or s is not None and s.vendor is not None \
                    and known != (s.vendor, s.model, s.firmware):
                changed = True
        if not changed:
            return
        url = ""
        if a is not None:
            port = self.board.listen_address(cfg["web"]["port"])[1]
            url = "http://%s/" % a if port == 80 else "http://%s:%d/" % (a, port)
        chs = []
        for c in cfg["chargers"]:
            s = self.central.charger(c["id"])
            chs.append({"id": c["id"], "name": c["name"] or c["id"], "phases": c["phases"],
                        "vendor": s and s.vendor, "model": s and s.model, "firmware": s and s.firmware})
        link.register(cfg["device"]["name"], cfg["site"]["phases"], cfg["site"]["battery"] is not None, chs, url)

    def log_status(self, readings, out, chargers):
        """The cycle's line: the site data as read (grid in A or W per phase, or its total;
        solar; battery), each charger, and the heap after the last cycle's collection."""
        if not self.peak_heap and hasattr(gc, "mem_alloc"):
            gc.collect()                # the first cycle: none measured yet
            self.heap_now = self.peak_heap = gc.mem_alloc()
        g = "? A"
        for key, fmt, unit in (("grid_a", "%.1f", "A"), ("grid_w", "%.0f", "W"), ("grid_total_w", "%.0f", "W total")):
            v = readings.get(key)
            if v is not None:
                v = v if isinstance(v, list) else [v]
                g = "/".join("-" if x is None else fmt % x for x in v) + " " + unit
                break
        parts = ["grid " + g]
        if readings.get("solar_w") is not None:
            parts.append("solar %.0f W" % readings["solar_w"])
        if readings.get("battery_soc") is not None or readings.get("battery_w") is not None:
            soc = readings.get("battery_soc")
            bat = readings.get("battery_w")
            parts.append("battery %s %% %s W" % ("?" if soc is None else "%.0f" % soc, "?" if bat is None else "%+.0f" % bat))
        for i in range(len(chargers)):
            row = out["chargers"][i]
            parts.append("%s %s %.1fA %s" % (row["id"], chargers[i]["status"], row["limit_a"], row["reason"]))
        line = "%s | heap %d peak %d" % (" | ".join(parts), self.heap_now, self.peak_heap)
        log.info("cycle %d: %s", self.cycles, line)
        self.last_status = line

    # -- commands from MQTT ------------------------------------------------------------

    def on_command(self, target, key, value):
        """A validated command from Home Assistant: a charger's profile reset (its
        sender clears its profiles and sends its limit again), or a setting changed
        through ``config.change`` (checked whole and stored first; a ConfigError refuses
        it and nothing changes), also what the detection found (``command_changes``)."""
        if key == "reset":
            log.info("command: %s reset its charging profile", target)
            session = self.central.charger(target)
            if session is not None:
                session.clear_and_resend()
            return
        from dynevse.config.change import change, command_changes
        try:
            changes = command_changes(self.cfg, target, key, value, self.detector)
            new = change(self.board, self.cfg, changes)
        finally:
            forget(_CONFIG)
        self.use(new)
        for path, v in changes:
            log.info("command: %s %s = %r", target, key if path.endswith("." + key) else path, v)

    def wifi_failed(self):
        """The configured network can't be joined: no charger or broker is reachable, so
        the board goes to setup (the portal on its access point) until it can."""
        from dynevse.start import request_setup
        request_setup(self.board, "Wi-Fi %r can't be joined (wrong password, or the router is off or out "
                      "of reach); check the Wi-Fi settings" % self.cfg["wifi"]["ssid"])

    # -- running -----------------------------------------------------------------------

    async def main(self):
        """Every task, for ever; references kept in ``tasks``."""
        cfg = self.cfg
        from dynevse.wifi import WifiSupervisor
        self.wifi = WifiSupervisor(self.board, cfg["wifi"])
        self.wifi.on_join_failed = self.wifi_failed
        self.tasks.append(asyncio.create_task(supervise("wifi", self.wifi.run)))
        self.tasks.append(asyncio.create_task(supervise("http", self.serve_http)))
        if self.link is not None:
            self.tasks.append(asyncio.create_task(supervise("mqtt", self.link.run)))
        self.loop_task = asyncio.create_task(supervise("control loop", self.control_loop))
        self.tasks.append(self.loop_task)
        gc.collect()
        await asyncio.gather(*self.tasks)

    def run(self):
        """Run the app; on an error that stops it, the safe state (never an end)."""
        try:
            asyncio.run(self.main())
            reason = "the firmware's tasks ended"
        except Exception as e:
            log.exception(e)
            reason = "the firmware stopped: %s: %s" % (type(e).__name__, e)
        finally:
            log.info("peak heap %d bytes", self.peak_heap)
        for t in self.tasks:
            t.cancel()
        from dynevse.safe import SafeState
        SafeState(self.board, reason).run()
