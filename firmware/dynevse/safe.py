"""The safe state: the board stays up and says why, and no charger is controlled.

Entered when there is no usable configuration, when the safe-mode button was held at
boot, or when starting failed for any other reason (a bug included): never a reset loop.
The chargers keep their own fallback profile (the board installed it, one stack level
below the dynamic limit, when it last ran). The board keeps feeding its watchdog, logs
the reason once a minute, keeps the Wi-Fi up (or its setup access point open), and, when
the configuration's MQTT settings can be read, publishes the reason: the hub's status
(``<base>/site/state``) and ``<base>/diagnostics``.
"""
import asyncio
import json

from dynevse import log
from dynevse.aio import sleep_ms, ticks_diff, ticks_ms
from dynevse.compat import const

_REPEAT_MS = const(60000)


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

    def __init__(self, board, reason, raw=None, wifi=True):
        self.board = board
        self.reason = reason
        self.raw = raw
        self.with_wifi = wifi
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
        if self.with_wifi and wifi is not None:
            from dynevse.wifi import WifiSupervisor
            self.tasks.append(asyncio.create_task(WifiSupervisor(board, wifi).run()))
        if mqtt is not None:
            self.tasks.append(asyncio.create_task(self._publish(mqtt)))
        last = ticks_ms()
        while True:
            board.watchdog_feed()
            if ticks_diff(ticks_ms(), last) >= _REPEAT_MS:
                log.error("safe state, no charger is controlled: %s", self.reason)
                last = ticks_ms()
            await sleep_ms(1000)

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
