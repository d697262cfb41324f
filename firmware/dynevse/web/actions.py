"""The status page's actions, each a POST with the admin password (HTTP Basic; wrong ones
rate-limited as in the portal) and the page's token (CSRF): ``/chargers/<id>/reset``
clears a charger's profiles and sends its limit again; ``/settings`` restarts the board
into setup, where the portal's forms change the settings (the portal needs more heap
than runs beside OCPP and MQTT; the chargers keep their fallback limit meanwhile).
Loaded for the request and forgotten with the status page.
"""

from dynevse import aio, log
from dynevse.compat import const
from dynevse.web.front import basic_password_is

_TIMEOUT_S = const(10)
_BODY_MAX = const(256)      # an action's form: its token only
_TRIES = const(5)           # wrong passwords before the lock
_LOCK_MS = const(30000)


def _allowed(app, headers):
    """None when the admin password came with the request, else (status, text)."""
    want = app.cfg["web"]["admin_password"]
    if not want:
        return 403, "no admin password is set: set one in the settings (make config-new, or the BOOT button)\n"
    now = app.board.monotonic_ms()
    if app.auth_locked_ms is not None:
        if aio.ticks_diff(now, app.auth_locked_ms) < _LOCK_MS:
            return 429, "too many wrong passwords; wait 30 s\n"
        app.auth_locked_ms = None
        app.auth_fails = 0
    got = headers.get("authorization", "")
    if basic_password_is(got, want):
        app.auth_fails = 0
        return None
    if got:
        app.auth_fails += 1
        if app.auth_fails >= _TRIES:
            app.auth_locked_ms = now
            log.warning("status page: %d wrong admin passwords; locked for 30 s", app.auth_fails)
    return 401, "the admin password is needed\n"


async def _form_token(headers, body_start, reader):
    """The ``csrf`` value of a small urlencoded body, or None."""
    try:
        n = int(headers.get("content-length", "0"))
    except ValueError:
        return None
    if not 0 < n <= _BODY_MAX:
        return None
    body = body_start
    while len(body) < n:
        chunk = await aio.wait_for(reader.read(n - len(body)), _TIMEOUT_S)
        if not chunk:
            return None
        body += chunk
    for pair in body[:n].decode().split("&"):
        k, _, v = pair.partition("=")
        if k == "csrf":
            return v
    return None


async def act(app, path, headers, body_start, reader, writer, send):
    """A POST to ``/settings`` or ``/chargers/<id>/reset``: (status, extra head, text),
    or None when the answer is already sent (``send``: the status page's writer)."""
    bad = _allowed(app, headers)
    if bad is not None:
        return bad[0], "WWW-Authenticate: Basic realm=\"DynEVSE\"\r\n" if bad[0] == 401 else "", bad[1]
    if await _form_token(headers, body_start, reader) != app.web_token:
        return 403, "", "this form has expired: open the page again\n"
    if path == "/settings":
        await send(writer, "200 OK", "text/html; charset=utf-8", "", (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width,"
            "initial-scale=1'><meta http-equiv='refresh' content='8;url=/'></head><body><p>The board restarts "
            "into setup; the settings open here in a few seconds (the admin password again). No charger is "
            "controlled until it is back: they keep their fallback limit.</p></body></html>",))
        from dynevse.start import request_setup
        request_setup(app.board, "settings asked for on the status page; back to normal operation after "
                      "a save, or by itself after 10 minutes", back=True)
        return None
    cid = path[10:-6]
    session = app.central.charger(cid)
    if session is None:
        return 404, "", "no charger %s is configured\n" % cid
    if not session.connected:
        return 409, "", "charger %s is not connected\n" % cid
    session.clear_and_resend()
    log.info("status page: %s: profile reset asked for", cid)
    return 303, "Location: /\r\n", "reset asked for\n"
