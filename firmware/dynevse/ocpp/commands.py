"""The controller's occasional commands to a charger: ``set_limit`` (and wait for its
answer), ``remote_start``, ``remote_stop``, ``reset``, ``trigger``. Imported for the
command and forgotten after it (``central._run``).
"""
from dynevse import aio
from dynevse.ocpp import rpc

# In the form of rpc._TABLE: the statuses of the answers to these CALLs, and what
# TriggerMessage may ask for.
_TABLE = (
    "|RemoteStartTransaction Accepted Rejected "
    "|RemoteStopTransaction Accepted Rejected "
    "|Reset Accepted Rejected "
    "|TriggerMessage Accepted Rejected NotImplemented "
    "|TRIG BootNotification DiagnosticsStatusNotification FirmwareStatusNotification Heartbeat"
    " MeterValues StatusNotification |")


async def set_limit(s, amps, phases):
    s.want_limit(amps, phases)
    s._wake()          # asked for: tried now even after a failure
    cs = s._cs
    want = s._want
    mark = s.last_limit
    if s.control == "refused" and s._retry_ms is not None:
        return "Rejected"     # tried again later (refused)
    for _ in range(int((cs.config["call_timeout_s"] * 7 + cs.config["boot_wait_s"]) * 50)):
        if s._link is None:
            return "NotConnected"
        d = s._in_force(cs.clock.monotonic_ms())
        if d is not None and d[0] == want[0] and d[1] == want[1] and s._clear is False:
            return "Accepted"
        ll = s.last_limit
        if ll is not mark and ll is not None and int(ll[0] * 10 + 0.001) == want[0] and ll[1] == want[1]:
            return ll[3]
        await aio.sleep_ms(20)
    return "Timeout"


async def remote_start(s, id_tag):
    if not isinstance(id_tag, str) or not 0 < len(id_tag) <= 20:
        raise ValueError("id_tag must be 1 to 20 characters, got %r" % (id_tag,))
    return await s._call_status("RemoteStartTransaction", {"connectorId": 1, "idTag": id_tag}, _TABLE)


async def remote_stop(s):
    if s.transaction_id is None:
        s._log("RemoteStopTransaction: no transaction running")
        return "Rejected"
    return await s._call_status("RemoteStopTransaction", {"transactionId": s.transaction_id}, _TABLE)


async def reset(s, kind):
    if kind not in ("Soft", "Hard"):
        raise ValueError("reset kind must be Soft or Hard, got %r" % (kind,))
    return await s._call_status("Reset", {"type": kind}, _TABLE)


async def trigger(s, message, connector_id=None):
    if not rpc.one_of(message, "TRIG", _TABLE):
        i = _TABLE.find("|TRIG ") + 5
        raise ValueError("message must be one of%sgot %r" % (_TABLE[i:_TABLE.find("|", i)], message))
    payload = {"requestedMessage": message}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    return await s._call_status("TriggerMessage", payload, _TABLE)
