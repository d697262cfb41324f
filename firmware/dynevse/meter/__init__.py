"""Measurement sources: the site readings the control loop uses, with their ages.

``site_readings(source, ct_a, ct_age_s, mqtt)`` merges the CT clamps (read through the
HAL) and the MQTT site-data inputs into the engine's reading names (``grid_a``,
``grid_w``, ``grid_total_w``, ``solar_w``, ``battery_soc``, ``battery_w``, ``voltage``,
``inverter_w``, ``inverter_phase_w``)
and an ``ages`` dict in seconds, which the regulator uses for its staleness rules.

``source`` says where the grid comes from: "ct" (the board's clamps), "mqtt" (a smart
meter or inverter topic) or "none". A CT clamp measures a magnitude only: it can't tell
export from import, so a site with solar should take its grid data from MQTT.
"""

_READINGS = ("grid_a", "grid_w", "grid_total_w", "solar_w", "battery_soc", "battery_w", "voltage",
             "inverter_w", "inverter_phase_w")
_GRID = ("grid_a", "grid_w", "grid_total_w")


def site_readings(source, ct_a, ct_age_s, mqtt):
    """(readings, ages) for the regulator; absent values are left out."""
    readings = {}
    ages = {}
    values = mqtt or {}
    age_ms = values.get("age_ms") or {}
    for k in _READINGS:
        if source != "mqtt" and k in _GRID:
            continue
        v = values.get(k)
        if v is None:
            continue
        if isinstance(v, list) and not [x for x in v if x is not None]:
            continue
        readings[k] = v
        a = age_ms.get(k)
        if isinstance(a, list):
            # per phase: the reading is as old as its oldest phase
            known = [x for x in a if x is not None]
            a = max(known) if known else None
        if a is not None:
            ages[k] = a / 1000
    if source == "ct" and ct_a is not None:
        readings["grid_a"] = list(ct_a)
        ages["grid_a"] = ct_age_s or 0
    return readings, ages
