"""OCPP 1.6J central system: the chargers connect to ``ws://<board>/ocpp/<chargePointId>``.

Interface for the app::

    from dynevse.ocpp.central import CentralSystem

    cs = CentralSystem(ocpp_config, chargers, clock=None, log_sink=None, checked=False)
    await cs.serve(cp_id, headers, reader, writer)    # per upgrade request to /ocpp/<cp_id>
    # the board's HTTP front does this: await dynevse.web.front.Front(cs).serve(host, port)

- ``ocpp_config``: the ``ocpp`` section as ``dynevse.config.check`` returns it (fields,
  defaults and ranges in ``config.fields.OCPP_FIELDS``; with ``fallback_a``,
  ``profile_duration_s``, ``refresh_before_s`` and ``voltage_v`` taken from their own
  sections); ``chargers``: the charger list (``config.site.CHARGER_FIELDS``).
  ``checked=True``: both are already validated with defaults filled in; they are taken as
  they are and the configuration package is not imported. Otherwise they are validated
  here (``config.check.check_central``) and invalid settings raise
  ``dynevse.config.schema.ConfigError`` naming the field.
- ``serve``: ``headers`` a mapping of the request's headers (any case of names),
  ``reader``/``writer`` the asyncio stream pair; it answers the upgrade (a refusal in
  HTTP/1.1 or the websocket) and returns when the charger has left.
- ``clock``: an object with ``monotonic_ms()`` and ``utc_s()`` (``clock.SystemClock``
  when None). ``log_sink(cp_id, line)``: also called with every log line (e.g. print).

Per charger, ``s = cs.charger(cp_id)`` (a ``central.ChargePointSession``), read each cycle:

- ``s.connected``; ``s.vendor``, ``s.model``, ``s.firmware`` (None before a BootNotification)
- ``s.status()``: OCPP status of connector 1 (else 0), e.g. "Charging"; ``s.statuses``
- ``s.meter``: {key: (value, arrived_ms)} with keys ``current_a`` ([L1, L2, L3] in A, None
  where not reported; a Current.Import without phase counts for each of the charger's
  phases), ``offered_a``, ``power_w``, ``energy_wh``, ``soc_pct``; ``arrived_ms`` is
  ``clock.monotonic_ms()`` when it came (compare with ``dynevse.aio.ticks_diff``)
- ``s.transaction_id`` (None without a running transaction), ``s.meter_start_wh``
- ``s.rate_unit`` ("A"/"W", as learnt), ``s.stack_level()``, ``s.connectors``, ``s.last_limit``
- ``s.counters`` {"dropped", "callerrors", "timeouts"}; ``s.log``: the last
  ``log_lines`` event lines; ``s.snapshot(now_ms)``: all of it JSON-ready
- ``cs.totals()`` (counters summed, with refused connections), ``cs.unknown`` ([id,
  attempts, last_ms] of unknown ids that tried to connect), ``cs.status()`` (a summary)

Commands (coroutines) answer "Accepted", "Rejected", "Timeout", "NotConnected" or "Busy"
(or another status the charger answered, e.g. "Unknown" to a clear, "NotImplemented" to
a trigger):

- ``await s.set_limit(amps, phases_in_use)``: TxDefaultProfile (connector 0 or 1),
  Relative or Absolute, bounded duration, in A or W (W = A x V x phases in use) with one
  decimal; a rejection is retried once in the other unit (rate unit "auto")
- ``await s.clear_profiles()``, ``s.remote_start(id_tag)``, ``s.remote_stop()``,
  ``s.reset("Soft"|"Hard")``, ``s.trigger(message, connector_id=None)``

A bad argument raises ValueError. ``standalone.py`` runs a server alone on either runtime.

Memory: what stays imported while chargers charge is ``central``, ``rpc`` and ``ws``. ``accept`` (per connection attempt) and
``setup`` (the constructor, the setup after connecting), ``answers`` (the less frequent
CALLs), ``commands``, ``summary`` and ``texts`` (fault texts) are imported for a use and
forgotten when no use runs;  ``tests/ocpp/heap_probe.py`` measures it.
"""
