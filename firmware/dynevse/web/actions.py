"""The status page's actions, each a POST with the admin password (HTTP Basic; wrong ones
rate-limited as in the portal) and the page's token (CSRF): ``/chargers/<id>/reset``
clears a charger's profiles and sends its limit again; ``/settings`` restarts the board
into setup, where the portal's forms change the settings (the portal needs more heap
than runs beside OCPP and MQTT; the chargers keep their fallback limit meanwhile).
Loaded for the request and forgotten with the status page.
"""

from dynevse import aio, log
from dynevse.compat import const
from dynevse.web import password

_TIMEOUT_S = const(10)
_BODY_MAX = const(256)      # an action's form: its token only


def _allowed(app, headers):
    """None when the admin password came with the request, else (status, text)."""
    want = app.cfg["web"]["admin_password"]
    if not want:
        return 403, "no admin password is set: set one in the settings (make config-new, or the BOOT button)\n"
    if app.password_lock is None:
        app.password_lock = password.new_lock()
    got = password.check(app.password_lock, headers.get("authorization", ""), want, app.board.monotonic_ms())
    if got == "ok":
        return None
    if got == "locked":
        return 429, "too many wrong passwords; wait 30 s\n"
    if app.password_lock[0] >= password.TRIES:
        log.warning("status page: %d wrong admin passwords; locked for 30 s", password.TRIES)
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
