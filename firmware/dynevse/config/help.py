"""A help text for every configuration field (``config.site``, ``config.fields``), for the host tools and the
web pages.

One line per field: ``section.key: text``. Kept as one string: on the board a table of
strings costs several times its text in heap.
"""

HELP = """device.id: Short name of this board, used in MQTT topics and Home Assistant ids (letters, digits, _ - .).
device.name: Name people see, e.g. in Home Assistant.
device.log_level: How much the board logs: debug, info, warning or error.
wifi.ssid: The Wi-Fi network to join; empty: the board opens its setup access point.
wifi.password: The Wi-Fi password. Never shown.
wifi.hostname: The board's name on the network.
wifi.ap_ssid: Name of the setup access point, used when the Wi-Fi can't be joined.
wifi.ap_password: Password of the setup access point (8 to 64 characters), empty for an open one. Never shown.
web.port: TCP port of the board's web server; chargers connect to ws://<board>:<port>/ocpp/<id>.
web.admin_password: Password of the web pages after setup. Never shown.
control.cycle_s: Seconds between control cycles.
control.grid_source: Where the grid current comes from: mqtt (a meter or inverter topic), ct (the board's clamps; magnitude only, no export) or none (static limits).
site.phases: 1 or 3: the phases of the supply.
site.voltage_v: Phase-to-neutral voltage, used to turn watts into amps.
site.breaker_a: Rating of the main breaker per phase.
site.breaker_margin_a: Amps kept free below the breaker rating.
site.max_import_w: Largest total import allowed (a capacity tariff or fuse), 0 = no limit.
site.power_buffer_w: Watts kept free below max_import_w.
site.allow_grid_charging: Off: no mode may import from the grid for the cars.
site.mode: The charging mode of every charger that has none of its own: standard, eco, solar or excess.
site.distribution: How chargers share: shared, priority, sequential_optimized or sequential_strict.
site.excess_threshold_w: Excess mode charges only from export above this many watts.
site.off_grid: On: no grid connection (set control.grid_source to none); the inverter and battery supply the site and limit each phase.
site.meter_netting: sum: the meter bills the sum over the phases (import on one offsets export on another); per_phase: it bills each phase on its own.
site.inverter_output: symmetric: the inverter puts the same power on each phase; asymmetric: it puts its power where the load is.
site.inverter_max_w: The inverter's largest total AC output, 0 = not set.
site.inverter_max_phase_w: The inverter's largest AC output on one phase, 0 = not set.
site.battery.soc_min: Home battery state of charge below which it is not used for the cars.
site.battery.soc_target: State of charge the home battery should reach before Solar and Excess may take its solar.
site.battery.soc_hysteresis: Once above a threshold, the SOC must drop this far below it to count as below.
site.battery.max_charge_w: Most power the home battery takes when charging.
site.battery.max_discharge_w: Most power the home battery gives when discharging.
site.battery.coupling: series: the battery's power goes through the (hybrid) inverter; parallel: it has its own inverter on the AC side.
site.groups.id: Name of a circuit group (a sub-breaker shared by some chargers).
site.groups.limit_a: The group's breaker rating per phase.
site.groups.chargers: The ids of the chargers behind this sub-breaker.
chargers.id: The charger's OCPP chargePointId, the last part of the URL it connects to.
chargers.min_a: Lowest current this charger is given; below it, it gets 0 (cars need 6 A).
chargers.max_a: Highest current this charger is given (its own rating or its cable's).
chargers.phases: 1 or 3: the phases the charger is wired with.
chargers.phase_map: The site phase of the charger's L1, L2, L3, e.g. ABC or BCA (one letter for a 1-phase charger); empty: ABC. The board checks it against the charger's own steps and suggests a correction (docs/detection.md).
chargers.priority: 1 (highest) to 10, for the priority and sequential distributions.
chargers.mode: This charger's own charging mode; empty follows the site's.
chargers.name: Name people see; empty uses the id.
chargers.password: OCPP Basic-auth password (security profile 1), empty for none. Never shown.
chargers.profile_kind: relative, or absolute with a start in the past, for chargers that accept only one kind.
chargers.connector_id: Connector the limit profiles go to: 0 (the whole charger) or 1.
chargers.stop_method: How a stop is done: limit (a 0 A profile) or remote_stop (RemoteStopTransaction).
chargers.rate_unit: Unit of the limits: auto (what the charger says it accepts), A or W.
chargers.stack_level: Stack level of the limit profile; -1 uses the site's, lowered to the charger's maximum.
regulation.ramp_up_a_s: How fast a charger's limit may rise; decreases are immediate.
regulation.deadband_a: Changes smaller than this send no profile.
regulation.profile_duration_s: How long each limit profile stays valid on the charger (a dead controller leaves the chargers on their fallback after this).
regulation.refresh_before_s: An unchanged limit is sent again when this little is left of its profile.
regulation.pause_s: After a stop for lack of power, a charger waits this long before starting again.
regulation.grace_s: Solar and Excess: how long a running session rides through a dip at its minimum.
regulation.grid_max_age_s: Grid data older than this is stale.
regulation.stale_hold_s: While grid data is stale, commands are held this long before the fallback.
regulation.fallback_a: Current of every charger while grid data is stale, and of the charger's own fallback profile (the board sends it to the chargers too).
regulation.input_max_age_s: Solar, battery and voltage readings older than this count as unknown.
regulation.meter_max_age_s: A charger's meter values older than this are ignored.
regulation.idle_s: A car in SuspendedEV drawing nothing this long counts as inactive.
regulation.idle_draw_a: Draw below which a SuspendedEV car counts as drawing nothing.
regulation.compliance_tolerance_a: How far a charger may exceed its limit before it counts as not following it.
regulation.compliance_cycles: Cycles in a row over the tolerance before the profile is cleared and sent again.
regulation.car_response_s: Time from a delivered limit to meter values showing the car on it, until learnt per car.
regulation.grace_import_pct: Solar and Excess: a ride through a dip may import this share of the energy charged.
regulation.sun_back_s: Solar and Excess: a charger stopped because the sun went starts again once it has been back this long.
ocpp.heartbeat_interval_s: Heartbeat interval given to chargers at boot.
ocpp.profile_id: chargingProfileId of the limit profile.
ocpp.fallback_profile_id: chargingProfileId of the fallback profile (one stack level below).
ocpp.stack_level: Stack level of the limit profile; the fallback goes one below.
ocpp.meter_sample_interval_s: MeterValueSampleInterval set on chargers after boot; 0 leaves theirs.
ocpp.meter_measurands: MeterValuesSampledData set on chargers after boot; empty leaves theirs.
ocpp.call_timeout_s: How long the board waits for a charger's answer.
ocpp.max_message_bytes: Largest OCPP message accepted; bigger ones close the connection (1009).
ocpp.boot_wait_s: If a charger sends no BootNotification this long after connecting, the board asks for one.
ocpp.ws_ping_interval_s: The board pings a silent charger after this long; 0 = off.
ocpp.free_charging: On: every idTag is accepted. Off: only those in id_tags.
ocpp.id_tags: idTags accepted when free_charging is off.
ocpp.log_lines: Lines kept in each charger's OCPP log.
mqtt.host: The MQTT broker's host name or address; empty: MQTT off.
mqtt.port: The broker's port.
mqtt.client_id: MQTT client id; empty: dynevse-<device id>.
mqtt.username: MQTT user name.
mqtt.password: MQTT password. Never shown.
mqtt.keepalive_s: MQTT keepalive; the broker counts as dead after this long without an answer.
mqtt.discovery: On: announce entities to Home Assistant.
mqtt.discovery_prefix: Home Assistant's discovery prefix.
mqtt.base_topic: Topic prefix of this board's state and commands; empty: dynevse/<device id>.
mqtt.state_period_s: State is published on change and at least this often.
mqtt.connect_timeout_s: Timeout of a connection attempt.
mqtt.backoff_min_s: First wait before reconnecting; it doubles up to backoff_max_s.
mqtt.backoff_max_s: Longest wait before reconnecting.
mqtt.ack_timeout_s: A QoS 1 message is sent again after this long without PUBACK.
mqtt.max_packet: Largest MQTT packet sent or received.
mqtt.queue_len: Messages waiting to go out; when full the oldest is dropped.
mqtt.inputs: Site data from topics: quantity -> {topic, field (JSON path, empty for a plain number), unit, invert}. A grid phase that moves against a charger's step is reported as inverted (docs/detection.md)."""


def help_for(path):
    """The help text of a field path like "site.breaker_a" or "chargers[2].min_a"."""
    if "[" in path:
        path = path[:path.index("[")] + path[path.index("]") + 1:]
    start = HELP.find("\n" + path + ": ")
    if start < 0:
        if not HELP.startswith(path + ": "):
            return None
        start = -1
    start += len(path) + 3
    end = HELP.find("\n", start)
    return HELP[start:] if end < 0 else HELP[start:end]
