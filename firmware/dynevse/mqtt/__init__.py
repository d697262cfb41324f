"""MQTT: Home Assistant discovery and commands, and site data in from any topic.

Modules (import the one you need; this package imports nothing by itself):

- ``packet``    MQTT 3.1.1 encoding/decoding and topic rules (pure)
- ``client``    the asyncio client: one supervisor task owns the connection
- ``inputs``    site data from MQTT topics, timestamped (``QUANTITIES``)
- ``state``     state JSON out (``snapshot``, ``encode``), command topics (``parse_command``)
- ``link``      ``Link``: all of the above wired together for the app
- ``discovery`` the entity table, discovery payloads and the announcement (loaded for
  each announcement, dropped after)
- ``commands`` commands in (``decode_command``, ``command``; loaded for one, dropped after)
- ``connect`` connecting to the broker (loaded for a (re)connect, dropped after)
- ``counters`` the status page's numbers (loaded for the call, dropped after)

Only the first five stay in memory; none of them imports ``discovery``, ``commands``, ``connect``, ``counters`` or the configuration package. The MQTT
settings table and its check are the configuration's (``dynevse.config``).

How the app uses it::

    from dynevse.mqtt.link import Link
    from dynevse.mqtt.state import snapshot

    # cfg["mqtt"] as dynevse.config.check returned it at boot
    link = Link(cfg["mqtt"], device_id, on_command=apply, clock=board.monotonic_ms)
    link.register("Panel", site_cfg["phases"], site_cfg["battery"] is not None,
                  [{"id": c["id"], "name": c["id"]} for c in chargers_cfg],
                  url="http://192.168.1.20/")
    asyncio.create_task(link.run())          # the supervisor; ends after link.stop()

    # every control cycle (never waits):
    data = link.readings(now_ms)             # site data in, with arrival times and ages
    result = engine.allocate(site, chargers, state)
    link.publish_state(*snapshot(result, site_cfg, chargers_cfg, live))

    # status page:
    link.status()     # state ("connected", "connecting", "waiting", "stopped"), last_error,
                      # connects, reconnects, links_lost, malformed, dead_broker, oversized,
                      # unexpected, dropped, rejected, resent, commands, commands_refused,
                      # last_refusal, input_ok, input_bad, discovery, ...

- Call ``register`` before ``run`` (the first connect removes retained entities that are
  not registered), and again whenever the chargers or the site change; entities of chargers no
  longer listed are removed (empty retained config). After every connect all entities
  are announced again, and retained configs of ours that are no longer listed (e.g.
  chargers removed while the board was off) are removed too.
- ``on_command(target, key, value)``: ``target`` is ``"site"`` or a charger id. Site
  keys: ``mode``, ``distribution`` (str), ``allow_grid_charging`` (bool),
  ``power_buffer_w``, ``soc_min``, ``soc_target`` (numbers; the latter two only with a
  battery). Charger keys: ``mode`` (str, ``""`` = follow the site), ``min_a``,
  ``max_a`` (numbers), ``priority`` (int), ``reset`` (value None: reset the charging
  profile). The value has passed the field's check (``config.site.commands``
  derives the platforms, options and ranges from the field tables). The callback applies and
  persists it, or raises ``ConfigError`` (e.g. min above max; any exception with
  ``field`` and ``message`` does): the refusal goes to ``<base>/diagnostics`` and nothing
  else changes. On success the new value is shown in the next state message at once.
- ``readings(now_ms)``: ``{"grid_a": [..], "grid_w": [..], "grid_total_w", "solar_w",
  "battery_soc", "battery_w", "voltage", "at_ms": {..}, "age_ms": {..}}`` with only the
  configured quantities; None until a first value arrived. Units: A, W, %, V; grid +
  import, battery + charging.

- ``clock`` returns milliseconds (ticks); every arrival time and age is on that clock.

- ``publish_state(site, chargers)`` takes what ``snapshot`` returns: the hub's state JSON
  and [(charger id, state JSON)]; only the JSON is kept.

Topics, entities and payloads: ``discovery`` and docs/home-assistant.md. Standalone run
(tests, MicroPython unix port): tests/mqtt/standalone.py. Memory, measured on the 64-bit
unix port from .mpy: about 18.5 KB of resident code (tests/bench/mem_report.py) and 7.5 KB
more while running (connected, 2 chargers, between cycles); up to about 29 KB above the
app at the peak of an announcement (docs/home-assistant.md, Memory).
"""
