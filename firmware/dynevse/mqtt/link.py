"""The board's MQTT link: Home Assistant discovery, state out, commands and site data in.

See the package docstring (``dynevse.mqtt``) for how the app uses it. ``run()`` is the
client's supervisor (the connection). After every connect (and registration) the
entities are announced by a task that loads ``discovery`` for the purpose and drops it
again; states wait until then. State goes out from ``publish_state`` (on change), after
a command, and on the client's tick (at least every ``state_period_s``). Commands and
site data arrive through the client's reader and are handled at once, without awaiting
anything.

Only what runs all the time stays in memory. A command and the status page
(``commands``, ``counters``) and an announcement (``discovery``) load their modules for the call and
drop them after it, unless something else had them loaded already.
"""
import asyncio

from dynevse.aio import ticks_ms, ticks_diff
from dynevse.mqtt.client import Client, acall, call
from dynevse.mqtt.inputs import Inputs
from dynevse.mqtt.state import parse_command



class Link:
    """MQTT for one board. ``cfg``: the ``mqtt`` settings as ``config.check.check_mqtt``
    returns them (taken as they are, not copied)."""

    # set on the instance when they change (an attribute less per object meanwhile)
    _task = None                    # the announcement
    _sweep = None                   # discovery's handler of retained configs while it runs
    _old = ()                       # (phases, battery) of hubs registered before; see discovery
    _gone = ()                      # chargers unregistered since the last announcement
    _chargers = []                  # registered: id, name, vendor, model, firmware (or None), phases; id, ...
    last_refusal = ""
    hold = None                     # callable: while it says True the announcement waits
    on_overload = None              # called when a grid value over its limit arrives (Inputs.watch)

    def __init__(self, cfg, device_id, on_command=None, clock=ticks_ms,
                 open_connection=None, client=None):
        self.cfg = cfg
        self.base = cfg["base_topic"]
        self._clock = clock
        self.client = c = client or Client(cfg, self.base + "/status", clock, open_connection)
        c.on_message = self._on_message
        c.on_connect = self._on_connect
        c.on_tick = self._pump
        self.inputs = Inputs(cfg["inputs"], clock)
        self.on_command = on_command
        self._hub = None            # (name, url, phases, battery) once registered
        self._states = []           # "" (hub) or charger id, state JSON, sent at ms (None: due); ...
        self._links = []            # charger id, its OCPP link is up, that was published; ...
        self._discover = False      # announce after the next connect / now
        self.n = [0] * 5            # counters, named by counters.LINK
        c.subscribe(self.base + "/site/+/set", 1)
        c.subscribe(self.base + "/charger/+/+/set", 1)
        for t in self.inputs._rows[::8]:    # the input topics (repeats are ignored)
            c.subscribe(t, 0)

    # ---- what the app calls ------------------------------------------------------

    def register(self, name, phases, battery, chargers, url=""):
        """Announce the hub and ``chargers`` ([{"id", "name", optional "vendor", "model",
        "firmware" (the charger's own words, None while unknown), "phases"}]); entities of
        chargers registered before but not now are removed. The values come from the
        board's checked configuration and its chargers' BootNotification; ``url`` is the
        board's own page ("" while unknown)."""
        chs = []
        for c in chargers:
            chs += (c["id"], c.get("name") or None, c.get("vendor"), c.get("model"), c.get("firmware"),
                    c.get("phases") or 3)
        self.store_registration(name, url, phases, battery, chs[::6], chs)
        self._discover = True
        self._pump(True)

    def store_registration(self, name, url, phases, battery, ids, chs):
        """Keep a registration; remember what the previous one announced that this one
        lacks (removed after the next connect)."""
        hub = self._hub
        if hub is not None:
            old = hub[2:]
            if old != (phases, battery) and old not in self._old:
                self._old = list(self._old) + [old]
        gone = list(self._gone)
        for c in self._chargers[::6]:
            if c not in ids and c not in gone and len(gone) < 16:
                gone.append(c)
        self._gone = [g for g in gone if g not in ids]
        self._hub = (name, url, phases, battery)
        self._chargers = chs

    def registered(self, cid):
        """(vendor, model, firmware) as registered for charger ``cid``, or None."""
        chs = self._chargers
        for i in range(0, len(chs), 6):
            if chs[i] == cid:
                return chs[i + 2], chs[i + 3], chs[i + 4]
        return None

    def publish_state(self, site, chargers):
        """Hand over this cycle's state as ``state.snapshot`` gives it: the hub's JSON
        (or None) and [(charger id, JSON)]; never waits.

        A state goes out when it differs from the last one, and ``state_period_s`` after
        that went out. A charger's link topic (``<base>/charger/<id>/status``, retained
        ``online``/``offline``: its entities' second availability) follows its state's
        ``connected`` and goes out when that changes and after every connect.
        """
        new = [] if site is None else ["", site, None]
        links = self._links
        for cid, js in chargers:
            new += (cid, js, None)
            up = '"connected":true' in js
            for j in range(0, len(links), 3):
                if links[j] == cid:
                    if links[j + 1] != up:
                        links[j + 1] = up
                        links[j + 2] = False
                    break
            else:
                links += (cid, up, False)
        old = self._states
        for i in range(0, len(new), 3):
            for j in range(0, len(old), 3):
                if old[j] == new[i] and old[j + 1] == new[i + 1]:
                    new[i + 2] = old[j + 2]     # unchanged: due when its period is over
        self._states = new
        new = old = None
        self._pump()

    def readings(self, now_ms=None):
        """Latest site data from MQTT with arrival times and ages (``Inputs.readings``)."""
        return self.inputs.readings(now_ms)

    def status(self):
        """Connection state and counters for the status page."""
        return call(("dynevse.mqtt.counters",), "link_status", self)

    def run(self):
        """The coroutine to run until ``stop()``: the connection's supervisor."""
        return self.client.run()

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
        await self.client.stop()

    # ---- incoming ------------------------------------------------------------------

    def _on_connect(self):
        self._discover = self._hub is not None
        self._pump(True)

    def _on_message(self, topic, payload, retained):
        inputs = self.inputs
        if parse_command(self.base, topic) is not None:
            call(("dynevse.mqtt.commands", "dynevse.config."), "command", self, topic, payload, retained)
        elif inputs.handle(topic, payload, retained):
            if inputs.over:
                inputs.over = False
                if self.on_overload is not None:
                    self.on_overload()
        elif self._sweep is not None and retained and len(payload):
            self._sweep(topic)

    # ---- outgoing ------------------------------------------------------------------

    async def _announce(self):
        try:
            await acall(("dynevse.mqtt.discovery", "dynevse.config."), "announce", self)
            self._discover = False
        except Exception as e:
            # link lost or slow; everything is announced again after the reconnect
            self.client.last_error = "discovery: %s" % (str(e) or type(e).__name__)
        finally:
            if self._task is asyncio.current_task():
                self._task = None   # a failed one is tried again on the next tick
        if not self._discover:
            self._pump()            # the states, now that their entities are known

    def _pump(self, again=False):
        # States go out once connected and announced; the announcement goes first, after
        # a connect or a registration (``again``: every state is due again then).
        s = self._states
        for i in range(2 if again else len(s), len(s), 3):
            s[i] = None
        if again:
            s = self._links
            for i in range(2, len(s), 3):
                s[i] = False
        if self.client.connected():
            if not (self._discover and self.cfg["discovery"]):
                self._publish_states()
            elif self.hold is not None and self.hold():
                # the chargers' setup first (its memory peak is not to meet the
                # announcement's); a tick after it, the announcement starts whole
                if again and self._task is not None:
                    self._task.cancel()
                    self._task = None
            elif again or self._task is None:
                if self._task is not None:
                    self._task.cancel()
                coro = self._announce()
                try:
                    self._task = asyncio.create_task(coro)
                except RuntimeError:    # CPython, no event loop yet: the next tick starts it
                    coro.close()
                    self._task = None

    def _publish_states(self):
        now = self._clock()
        cl = self.client
        ids = self._chargers[::6]
        s = self._links
        for i in range(0, len(s), 3):
            if not s[i + 2] and s[i] in ids and cl.room():
                s[i + 2] = cl.publish(self.base + "/charger/" + s[i] + "/status",
                                      "online" if s[i + 1] else "offline", True)
        s = self._states
        for i in range(0, len(s), 3):
            key = s[i]
            if s[i + 2] is not None and ticks_diff(now, s[i + 2]) < self.cfg["state_period_s"] * 1000:
                continue
            if key and key not in ids:
                continue            # not a registered charger
            if not cl.room():
                return              # the rest stays due: sent on the next tick, not dropped
            if cl.publish(self.base + ("/charger/" + key if key else "/site") + "/state", s[i + 1], True):
                s[i + 2] = now
                self.n[4] += 1
