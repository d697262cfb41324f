"""A regulator row in words for people (status page, logs). Loaded only when shown."""


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
