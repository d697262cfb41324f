"""Regulator rows and the site's warnings in words for people (status page, logs, Home
Assistant's status texts). Loaded only when shown."""


def text(row):
    """``row``: one charger of ``Regulator.step``'s result."""
    reason = row["reason"]
    a = "%.1f A" % row["limit_a"]
    if reason == "paused":
        return "paused for lack of power, %d s left" % row.get("paused_left_s", 0)
    return {
        "grace": "riding through a dip at " + a,
        "stale_hold": "grid data stale: holding " + a,
        "stale_fallback": "grid data stale: fallback " + a,
        "over_limit_cut": "cut to %s: a phase was over its limit" % a,
        "inactive": "no car charging",
        "mode_limit": "waiting: the mode's sources can't give the minimum",
        "no_capacity": "waiting: not enough capacity for the minimum",
        "ramping": "ramping up, now " + a,
        "waiting_for_room": "waiting for another charger to come down, now " + a,
        "uncontrolled": "not following its limit: counted as a fixed load",
    }.get(reason, "charging at " + a)


def site_text(warnings):
    """The site's warnings (the engine's and the regulator's words) as one sentence;
    "OK" without any. An unknown warning is shown as it is."""
    words = {
        "off_grid": "off-grid: the inverter supplies the site",
        "no_load_data": "the inverter's load per phase is missing",
        "no_grid_data": "no grid data: only the static limits are used",
        "grid_phase_missing": "a grid phase reading is missing",
        "grid_stale": "grid data is stale",
        "over_breaker": "a phase is over its breaker limit",
        "no_power_data": "no power balance: the modes can't use solar",
        "battery_power_missing": "home battery power is missing",
        "battery_soc_missing": "home battery SOC is missing",
        "phase_map_mismatch": "a charger's steps show another phase map than configured",
        "grid_sign_inverted": "a grid input looks inverted: it moved against a charger's step",
    }
    if not warnings:
        return "OK"
    t = "; ".join(words.get(w, w) for w in warnings)
    return t[:1].upper() + t[1:] + "."


def findings(found):
    """What the detection found (``Detector.found``) as sentences: the log, the status
    page (docs/detection.md)."""
    maps, inv = found
    out = ["charger %s's steps show phase map %s (configured %s): Home Assistant's 'Apply suggested "
           "phase map' sets it" % m for m in maps]
    if inv:
        q = ",".join("mqtt.inputs.grid_l%d" % ("ABC".index(x) + 1) for x in inv)
        out.append("%s looks inverted (it moved against a charger's step): Home Assistant's 'Invert the grid "
                   "input seen inverted' flips it" % q)
    return out
