"""The safe state: the board stays up and says why, and no charger is controlled.

Entered when there is no usable configuration, when the safe-mode button was held at
boot, or when starting failed for any other reason (a bug included): never a reset loop.
The chargers keep their own fallback profile (the board installed it, one stack level
below the dynamic limit, when it last ran). The board keeps feeding its watchdog, logs
the reason once a minute, keeps the Wi-Fi up (or its setup access point open), and, when
the configuration's MQTT settings can be read, publishes the reason: the hub's status
(``<base>/site/state``) and ``<base>/diagnostics``. The setup portal (``web.portal``)
serves the wizard; after a save the board restarts with the new configuration.

A running board whose Wi-Fi can't be joined (a new router password, the router gone)
asks for setup too (``start.request_setup``): it restarts into the safe state with the setup
access point and the portal (the admin password still needed), keeps trying its network,
and restarts into normal operation once it is joined again or the settings are saved.
The request is a small file beside config.json, read once at boot and removed at once,
so a power cut in setup boots normally again.
"""
import asyncio
import json

from dynevse import log
from dynevse.aio import sleep_ms, ticks_diff, ticks_ms
from dynevse.compat import const

_REPEAT_MS = const(60000)
_SHOW_MS = const(10000)     # after a save, how long the page saying where the board is may take
_BACK_MS = const(600000)    # settings asked for: back to normal operation without a save after this


def _sections(raw):
    """The Wi-Fi settings, and the MQTT settings when they check out, of a configuration
    that as a whole does not (defaults where nothing can be read)."""
    from dynevse.config import fields, schema
    from dynevse.config.check import check_mqtt
    raw = raw if isinstance(raw, dict) else {}
    try:
        wifi = schema.check_section("wifi", raw.get("wifi"), fields.WIFI_FIELDS)
    except schema.ConfigError:
        wifi = schema.defaults(fields.WIFI_FIELDS)
    mqtt = None
    try:
        device = schema.check_section("device", raw.get("device"), fields.DEVICE_FIELDS)
        mqtt = check_mqtt(raw.get("mqtt"), device["id"])
        if not mqtt["host"]:
            mqtt = None
    except schema.ConfigError:
        pass
    return wifi, mqtt


class SafeState:
    """``reason``: why, in words; ``raw``: the configuration as read (or None)."""

    def __init__(self, board, reason, raw=None, wifi=True, rejoin=False, back=False):
        self.board = board
        self.reason = reason
        self.raw = raw
        self.with_wifi = wifi
        self.rejoin = rejoin        # the configuration is good: back to it once the Wi-Fi joins
        self.back = back            # the settings were asked for: back to them after _BACK_MS
        self.tasks = []

    def run(self):
        """Run for ever (on the unix port until the process is stopped)."""
        asyncio.run(self.main())

    async def main(self):
        board = self.board
        log.error("safe state, no charger is controlled: %s", self.reason)
        wifi = mqtt = None
        try:
            wifi, mqtt = _sections(self.raw)
        except Exception as e:      # the safe state must not depend on the code that failed
            log.error("safe state: settings unreadable: %s", e)
        wifi_task = None
        if self.with_wifi and wifi is not None:
            from dynevse.wifi import WifiSupervisor
            sup = WifiSupervisor(board, wifi)
            if self.rejoin:
                sup.on_joined = self._joined
            wifi_task = asyncio.create_task(sup.run())
            self.tasks.append(wifi_task)
        if mqtt is not None:
            self.tasks.append(asyncio.create_task(self._publish(mqtt)))
        portal = None
        if self.with_wifi:
            from dynevse.web.portal import Portal
            portal = Portal(board, self.raw, self.reason)
            port = (self.raw.get("web") or {}).get("port") if isinstance(self.raw, dict) else None
            host, port = board.listen_address(port if isinstance(port, int) else 80)
            self.tasks.append(asyncio.create_task(portal.serve(host, port)))
            dns_port = board.dns_port()
            if dns_port:
                from dynevse.web.dns import serve
                self.tasks.append(asyncio.create_task(serve(dns_port, board.access_point_address)))
        last = began = ticks_ms()
        while True:
            board.watchdog_feed()
            if self.back and ticks_diff(ticks_ms(), began) >= _BACK_MS and (portal is None or portal.saved is None):
                log.info("setup: nothing saved in %d minutes; back to normal operation", _BACK_MS // 60000)
                board.soft_reset()
            if portal is not None and portal.saved is not None:
                await self._after_save(portal, wifi_task)
            if ticks_diff(ticks_ms(), last) >= _REPEAT_MS:
                log.error("safe state, no charger is controlled: %s", self.reason)
                last = ticks_ms()
            await sleep_ms(1000)

    async def _after_save(self, portal, wifi_task):
        """Join the saved network while the page waits, so it can say where the board will
        be (the access point stays up meanwhile); then restart into normal operation."""
        board = self.board
        if wifi_task is not None:
            wifi_task.cancel()      # the old settings' supervisor must not join in between
        board.wifi_join(portal.saved[0])
        waited = 0
        a = board.wifi_address()
        while a is None and waited < getattr(board, "wifi_join_ms", 20000):
            board.watchdog_feed()
            await sleep_ms(250)
            waited += 250
            a = board.wifi_address()
        portal.joined = a or ""
        log.info("setup: %s", "joined %s" % a if a else "the saved Wi-Fi could not be joined")
        waited = 0
        while not portal.shown and waited < _SHOW_MS:
            board.watchdog_feed()
            await sleep_ms(250)
            waited += 250
        await sleep_ms(1000)        # the page goes out first
        log.info("setup done; restarting into normal operation")
        board.soft_reset()

    def _joined(self):
        log.info("Wi-Fi joined again; restarting into normal operation")
        self.board.soft_reset()

    async def _publish(self, cfg):
        from dynevse.mqtt.client import Client
        base = cfg["base_topic"]
        client = Client(cfg, base + "/status", self.board.monotonic_ms)
        reason = ("safe state: " + self.reason)[:200]
        state = json.dumps({"status": reason, "warnings": ["safe_state"]})
        diag = json.dumps({"safe_state": reason})

        def announce():
            client.publish(base + "/site/state", state, True)
            client.publish(base + "/diagnostics", diag, True)
        client.on_connect = announce
        await client.run()
