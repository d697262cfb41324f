"""The board's MQTT link: Home Assistant discovery, state out, commands and site data in.

See the package docstring (``dynevse.mqtt``) for how the app uses it. Two tasks run
under ``run()``: the client's supervisor (the connection) and the publisher, which
announces the entities after every connect (one config message in memory at a time),
removes entities that are no longer ours, and publishes state on change and at least
every ``state_period_s``. Commands and site data arrive through the client's reader
and are handled at once, without awaiting anything.
"""
import asyncio
import json
from binascii import crc32

from dynevse.aio import ticks_ms, ticks_diff, sleep_ms, wait_for, TimeoutError
from dynevse.core import schema
from dynevse.core.schema import ConfigError
from dynevse.mqtt import config as C
from dynevse.mqtt import discovery as D
from dynevse.mqtt import state as S
from dynevse.mqtt.client import Client
from dynevse.mqtt.inputs import Inputs

_SEND_TIMEOUT_S = 10        # one discovery message must be written within this
_SWEEP_SETTLE_MS = 1000     # retained configs arrive right after SUBSCRIBE; allow this long
_SWEEP_MAX = 32             # leftovers remembered per connect; more are caught next time
_GONE_MAX = 16


class Link:
    """MQTT for one board. ``cfg``: the ``mqtt`` settings (see ``config.MQTT_FIELDS``)."""

    def __init__(self, cfg, device_id, on_command=None, clock=ticks_ms,
                 open_connection=None, client=None):
        self.cfg = C.check_mqtt(cfg, device_id)
        self.topics = D.Topics(self.cfg)
        self._clock = clock
        self.client = client or Client(self.cfg, self.topics.status, clock, open_connection)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.inputs = Inputs(self.cfg["inputs"], clock)
        self.on_command = on_command
        self._hub = None            # {"name", "url", "phases", "battery"}
        self._chargers = []
        self._site = None
        self._charger_states = []
        self._sent = {}             # "" (hub) or charger id -> [crc of state JSON, sent at ms]
        self._discover = False
        self._sweeping = False
        self._swept = []            # [component, object_id] of leftovers to remove
        self._gone_ids = []         # chargers unregistered since the last discovery run
        self._gone_rows = []        # [component, key] of hub entities no longer offered
        self._wake = asyncio.Event()
        self.counters = {"commands": 0, "commands_refused": 0, "discovery_sent": 0,
                         "entities_removed": 0, "states_sent": 0}
        self.last_refusal = ""
        for f in self.topics.command_filters():
            self.client.subscribe(f, 1)
        for t in self.inputs.topics():
            self.client.subscribe(t, 0)

    # ---- what the app calls ------------------------------------------------------

    def register(self, name, phases, battery, chargers, url=""):
        """Announce the hub and ``chargers`` ([{"id", "name", optional "vendor", "model",
        "firmware"}]); entities of chargers registered before but not now are removed."""
        name = schema.check_value("hub.name", name, schema.TEXT, None, None, "")
        phases = schema.check_value("site.phases", phases, (1, 3), None, None, "")
        if type(battery) is not bool:
            raise ConfigError("site.battery", "must be true or false, got %r" % (battery,))
        if url and not (url.startswith("http://") or url.startswith("https://")):
            raise ConfigError("hub.url", "must start with http:// or https://, got %r" % (url,))
        if not isinstance(chargers, (list, tuple)) or len(chargers) > 16:
            raise ConfigError("chargers", "must be a list of at most 16 chargers")
        ids = []
        chs = []
        for i in range(len(chargers)):
            c = chargers[i]
            cid = schema.check_value("chargers[%d].id" % i, c.get("id") if isinstance(c, dict) else c,
                                     schema.ID, None, None, "")
            if cid in ids:
                raise ConfigError("chargers[%d].id" % i, "must be unique, %r is used twice" % cid)
            ids.append(cid)
            ch = {"id": cid}
            for k in ("name", "vendor", "model", "firmware"):
                v = c.get(k) if isinstance(c, dict) else None
                if v:
                    ch[k] = schema.check_value("chargers[%d].%s" % (i, k), v, schema.TEXT, None, None, "")
            chs.append(ch)
        keys = [[r[1], r[0]] for r in D.entities(D.HUB, phases, battery)]
        if self._hub is not None:
            for k in [[r[1], r[0]] for r in D.entities(D.HUB, self._hub["phases"], self._hub["battery"])]:
                if k not in keys and k not in self._gone_rows:
                    self._gone_rows.append(k)
        for c in self._chargers:
            if c["id"] not in ids and c["id"] not in self._gone_ids and len(self._gone_ids) < _GONE_MAX:
                self._gone_ids.append(c["id"])
        self._hub = {"name": name, "url": url, "phases": phases, "battery": battery}
        self._chargers = chs
        self._gone_ids = [g for g in self._gone_ids if g not in ids]
        self._gone_rows = [k for k in self._gone_rows if k not in keys]
        self._discover = True
        self._sent = {}
        self._wake.set()

    def publish_state(self, site, chargers):
        """Hand over this cycle's state (see ``state.snapshot``); never waits.

        The dicts are kept until the next call; don't change them afterwards.
        """
        self._site = site
        self._charger_states = chargers
        self._wake.set()

    def readings(self, now_ms=None):
        """Latest site data from MQTT with arrival times and ages (``Inputs.readings``)."""
        return self.inputs.readings(now_ms)

    def status(self):
        """Connection state and counters for the status page."""
        d = self.client.status()
        d.update(self.counters)
        d.update(self.inputs.counters())
        d["last_refusal"] = self.last_refusal
        d["discovery"] = "off" if not self.cfg["discovery"] else ("pending" if self._discover else "done")
        return d

    async def run(self):
        """Run until ``stop()``: the connection's supervisor and the publisher."""
        pub = asyncio.create_task(self._publisher())
        try:
            await self.client.run()
        finally:
            pub.cancel()

    async def stop(self):
        await self.client.stop()

    # ---- incoming ------------------------------------------------------------------

    def _on_connect(self):
        self._discover = self._hub is not None
        self._sent = {}
        self._wake.set()

    def _on_message(self, topic, payload, retained):
        if self.topics.parse_command(topic) is not None:
            self._command(topic, payload, retained)
        elif self.inputs.handle(topic, payload, retained):
            pass
        elif self._sweeping and retained and len(payload):
            self._sweep(topic)

    def _command(self, topic, payload, retained):
        ids = [c["id"] for c in self._chargers]
        battery = bool(self._hub and self._hub["battery"])
        try:
            target, key, value = S.decode_command(self.topics, topic, payload, retained, battery, ids)
            if self.on_command is not None:
                self.on_command(target, key, value)
        except ConfigError as e:
            self._refuse(topic, e.field, e.message)
            return
        except Exception as e:
            self._refuse(topic, "command", "could not be applied: %s" % e)
            return
        self.counters["commands"] += 1
        if value is None:
            return
        # Confirm at once: show the new value in the state we publish next.
        shown = D.DEFAULT_OPTION if (target != "site" and key == "mode" and value == "") else value
        if target == "site":
            if self._site is not None:
                self._site[key] = shown
            self._sent.pop("", None)
        else:
            for c in self._charger_states:
                if c.get("id") == target:
                    c[key] = shown
            self._sent.pop(target, None)
        self._wake.set()

    def _refuse(self, topic, field, message):
        self.counters["commands_refused"] += 1
        self.last_refusal = ("%s: %s" % (field, message))[:160]
        msg = json.dumps({"topic": topic, "field": field, "error": message}, separators=(",", ":"))
        self.client.publish(self.topics.diagnostics, msg)

    def _sweep(self, topic):
        parsed = self.topics.parse_config(topic)
        if parsed is None:
            return
        comp, oid = parsed
        hub = self._hub
        if D.is_expected(self.topics, hub["phases"], hub["battery"], self._chargers, comp, oid):
            return
        if len(self._swept) < _SWEEP_MAX and [comp, oid] not in self._swept:
            self._swept.append([comp, oid])

    # ---- outgoing ------------------------------------------------------------------

    async def _publisher(self):
        while True:
            try:
                await wait_for(self._wake.wait(), 1)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self.client.connected():
                continue
            if self._discover and self.cfg["discovery"]:
                try:
                    await self._discovery()
                except Exception as e:
                    # link lost or slow; everything is announced again after the reconnect
                    self.client.last_error = "discovery: %s" % (str(e) or type(e).__name__)
                    continue
            self._publish_states()

    async def _send(self, topic, payload):
        # Retained, QoS 1 (the broker confirms it has it), and one at a time: wait until
        # it is on the wire before building the next, so only one is ever in memory.
        if not self.client.connected():
            raise OSError("not connected")
        self.client.publish(topic, payload, True, 1)
        await wait_for(self.client.flushed(), _SEND_TIMEOUT_S)

    async def _discovery(self):
        t = self.topics
        sweep = t.sweep_filter()
        self._swept = []
        self._sweeping = True
        self.client.subscribe(sweep, 0)
        try:
            hub = self._hub
            for row in D.entities(D.HUB, hub["phases"], hub["battery"]):
                await self._send(*D.config_message(t, hub, row))
                self.counters["discovery_sent"] += 1
            for ch in self._chargers:
                for row in D.entities(D.CHARGER):
                    await self._send(*D.config_message(t, hub, row, ch))
                    self.counters["discovery_sent"] += 1
            await sleep_ms(_SWEEP_SETTLE_MS)
            for comp, key in self._gone_rows:
                await self._remove(comp, t.object_id(None, key))
            for cid in self._gone_ids:
                for r in D.entities(D.CHARGER):
                    await self._remove(r[1], t.object_id(cid, r[0]))
            while self._swept:
                comp, oid = self._swept[0]
                await self._remove(comp, oid)
                self._swept.pop(0)
            self._gone_rows = []
            self._gone_ids = []
            self._discover = False
        finally:
            self._sweeping = False
            self.client.unsubscribe(sweep)

    async def _remove(self, component, object_id):
        # an empty retained config removes the entity from HA (and clears the retained one)
        await self._send(self.topics.config(component, object_id), b"")
        self.counters["entities_removed"] += 1

    def _publish_states(self):
        now = self._clock()
        period = self.cfg["state_period_s"] * 1000
        if self._site is not None:
            self._state("", self.topics.site_state, S.encode(self._site, S.SITE_KEYS), now, period)
        ids = [c["id"] for c in self._chargers]
        for c in self._charger_states:
            cid = c.get("id")
            if cid in ids:
                self._state(cid, self.topics.charger_state(cid), S.encode(c, S.CHARGER_KEYS), now, period)

    def _state(self, key, topic, js, now, period):
        crc = crc32(js.encode("utf-8"))
        last = self._sent.get(key)
        if last is not None and last[0] == crc and ticks_diff(now, last[1]) < period:
            return
        if self.client.publish(topic, js, True):
            self._sent[key] = [crc, now]
            self.counters["states_sent"] += 1
