"""The status page beside OCPP and MQTT: ``/`` (HTML, refreshes itself every 10 s, no
JavaScript) and ``/status.json``, from the last control cycle. Served through the front's
``pages`` hook (no framework: it has to fit beside everything else), streamed in small
writes. It shows no setting and no secret: the summary needs no password.

Its two actions (``web.actions``, loaded for a POST only) reset a charger's profile and
open the settings.
"""
import binascii
import json
import os

from dynevse import aio
from dynevse.compat import const

_TIMEOUT_S = const(10)
_CLOSE_PCT = const(90)      # a phase this close to its limit is shown in red
_CSS = ("body{font:16px sans-serif;margin:0 auto;max-width:30em;padding:0 .6em}"
        ".bar{background:#ddd;height:1.2em}.bar div{background:#2a7;height:100%}"
        ".bar .hi{background:#c33}.warn{color:#b00020;font-weight:bold}.note{color:#555;font-size:14px}"
        "table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.2em;border-bottom:1px solid #ddd}")


# whether a charger takes the limits it is sent (the OCPP sender's ``control``)
_CONTROL = {"ok": "takes its limit", "pending": "no limit accepted yet",
            "refused": "refuses every charging profile"}


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary(app):
    """What the page shows, as a dict (also the JSON)."""
    site = app.cfg["site"]
    limit_a = site["breaker_a"] - site["breaker_margin_a"]
    out = {"mode": site["mode"], "distribution": site["distribution"], "breaker_a": limit_a,
           "cycles": app.cycles, "phases_a": None, "chargers": [], "warnings": []}
    view = app.view
    if view is None:
        out["warnings"].append("starting: no control cycle has run yet")
        return out
    grid_a, stale, rows = view
    if grid_a is not None:
        out["phases_a"] = [None if x is None else round(x, 1) for x in grid_a]
    if stale:
        out["warnings"].append("grid data is stale: chargers are held at the fallback current")
    from dynevse.core.status import findings, text
    for cid, status, limit_a, draw_a, reason, paused_s, connected, control, resend in rows:
        out["chargers"].append({"id": cid, "status": status, "limit_a": round(limit_a, 1),
                                "draw_a": None if draw_a is None else round(draw_a, 1), "reason": reason,
                                "why": text({"reason": reason, "limit_a": limit_a, "paused_left_s": paused_s}),
                                "control": control})
        if not connected:
            out["warnings"].append("charger %s is not connected (ws://<board>/ocpp/%s)" % (cid, cid))
        elif control == "refused":
            out["warnings"].append("charger %s refuses every charging profile: its draw counts as a fixed "
                                   "load and the other chargers share what is left" % cid)
        elif reason == "uncontrolled" or resend:
            out["warnings"].append("charger %s does not follow its limit: its draw counts as a fixed load; "
                                   "its profile is cleared and sent again" % cid)
    out["warnings"] += findings(app.found)      # what the chargers' steps showed (core.detect)
    if app.mqtt_error:
        out["warnings"].append("MQTT: " + app.mqtt_error)
    return out


def _chunks(s, token):
    yield ("<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' "
           "content='width=device-width,initial-scale=1'><meta http-equiv='refresh' content='10'>"
           "<title>DynEVSE</title><style>%s</style></head><body><h1>DynEVSE</h1>"
           "<p>Mode <b>%s</b>, distribution <b>%s</b>; cycle %d</p>"
           % (_CSS, _esc(s["mode"]), _esc(s["distribution"]), s["cycles"]))
    for w in s["warnings"]:
        yield "<p class='warn'>%s</p>" % _esc(w)
    lim = s["breaker_a"]
    yield "<h2>Grid (breaker %.0f A)</h2>" % lim
    if s["phases_a"] is None:
        yield "<p class='warn'>no per-phase grid current</p>"
    else:
        for i in range(len(s["phases_a"])):
            a = s["phases_a"][i]
            pct = 0 if a is None else max(0, min(100, int(100 * a / lim)))
            yield ("<p>L%d: %s A of %.0f A<div class='bar'><div%s style='width:%d%%'></div></div></p>"
                   % (i + 1, "?" if a is None else "%.1f" % a, lim, " class='hi'" if pct >= _CLOSE_PCT else "", pct))
    yield "<h2>Chargers</h2><table><tr><th>Charger</th><th>State</th><th>Limit</th><th>Draw</th></tr>"
    form = "<form method='post' action='%s' style='display:inline'><input type='hidden' name='csrf' value='" \
        + token + "'><button>%s</button></form>"
    for c in s["chargers"]:
        yield ("<tr><td>%s</td><td>%s</td><td>%.1f A</td><td>%s</td></tr><tr><td colspan='4'>%s; %s %s</td></tr>"
               % (_esc(c["id"]), _esc(c["status"]), c["limit_a"],
                  "-" if c["draw_a"] is None else "%.1f A" % c["draw_a"], _esc(c["why"]),
                  _CONTROL.get(c["control"], ""),
                  form % ("/chargers/%s/reset" % _esc(c["id"]), "Reset its profile")))
    yield ("</table><p>%s <span class='note'>(the admin password; the board restarts into setup, "
           "the chargers keep their fallback limit until it is back)</span></p></body></html>"
           % (form % ("/settings", "Change settings")))


async def _send(writer, status, ctype, extra, chunks):
    writer.write(("HTTP/1.1 %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n%sConnection: close\r\n\r\n"
                  % (status, ctype, extra)).encode())
    for c in chunks:
        writer.write(c.encode())
        await aio.wait_for(writer.drain(), _TIMEOUT_S)


_STATUS = {200: "200 OK", 303: "303 See Other", 401: "401 Unauthorized", 403: "403 Forbidden",
           404: "404 Not Found", 405: "405 Method Not Allowed", 409: "409 Conflict", 429: "429 Too Many Requests"}


async def page(app, method, path, headers, body_start, reader, writer):
    """The front's ``pages`` hook."""
    if app.web_token is None:       # per boot; kept by the app (this module is forgotten)
        app.web_token = binascii.hexlify(os.urandom(8)).decode()
    extra = ""
    if method == "POST" and (path == "/settings" or path.startswith("/chargers/") and path.endswith("/reset")):
        from dynevse.web.actions import act       # loaded for the POST only
        got = await act(app, path, headers, body_start, reader, writer, _send)
        if got is None:
            return
        code, extra, text = got
        status, ctype, chunks = _STATUS[code], "text/plain", (text,)
    elif path not in ("/", "/status.json"):
        status, ctype, chunks = "404 Not Found", "text/plain", ("not found\n",)
    elif method != "GET":
        status, ctype, chunks = "405 Method Not Allowed", "text/plain", ("GET only\n",)
    elif path == "/":
        status, ctype, chunks = "200 OK", "text/html; charset=utf-8", _chunks(summary(app), app.web_token)
    else:
        status, ctype, chunks = "200 OK", "application/json", (json.dumps(summary(app)),)
    await _send(writer, status, ctype, extra, chunks)
