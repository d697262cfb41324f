"""Summaries for pages and the API: a session's ``snapshot``, the central system's
``status`` and ``totals``. Imported for the call and forgotten after it
(``central._sync``).
"""
from dynevse import aio
from dynevse.ocpp import central


def snapshot(s, now_ms):
    meter = {}
    for k in s.meter:
        v, at = s.meter[k]
        meter[k] = {"value": v, "age_s": aio.ticks_diff(now_ms, at) // 1000}
    conns = {}
    for c in s.statuses:
        conns[str(c)] = s.statuses[c]
    return {"id": s.id, "connected": s.connected, "vendor": s.vendor, "model": s.model,
            "firmware": s.firmware, "status": s.status(), "connectors": conns,
            "transaction_id": s.transaction_id, "meter": meter, "rate_unit": s.rate_unit,
            "stack_level": s.stack_level(), "last_limit": s.last_limit, "control": s.control,
            "purpose": central.PURPOSES[s.purpose], "delivered_a": s.delivered_a, "counters": s.counters,
            "log": s.log}


def totals(cs):
    out = dict(cs.counters)
    for cp_id in cs.ids:
        c = cs.chargers[cp_id].counters
        for k in c:
            out[k] = out.get(k, 0) + c[k]
    return out


def status(cs):
    now = cs.clock.monotonic_ms()
    unknown = []
    for e in cs.unknown:
        unknown.append({"id": e[0], "attempts": e[1], "age_s": aio.ticks_diff(now, e[2]) // 1000})
    chargers = []
    for i in cs.ids:
        s = cs.chargers[i]
        chargers.append({"id": i, "connected": s.connected, "status": s.status()})
    return {"chargers": chargers, "unknown": unknown, "counters": totals(cs)}
