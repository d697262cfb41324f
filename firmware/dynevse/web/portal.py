"""The setup portal: the wizard a homeowner or an electrician fills in on a phone.

Served by microdot while the board is in the safe state (no usable configuration: nothing
else runs then). One page, no JavaScript, no external assets; every field is named by its
configuration path, and saving goes through ``config.change`` — the same whole check the
board boots with — so an error is shown next to the field it names and nothing is stored
until the whole configuration is valid. After a save the board restarts into normal
operation. The phones' connectivity checks are redirected to the wizard.

Once an admin password is stored, every page needs it (HTTP Basic); wrong passwords are
rate-limited; a POST needs the page's CSRF token; secrets are never sent back.
"""
import binascii
import os

from microdot import Microdot, Request, Response

from dynevse import log
from dynevse.compat import const

_BODY_MAX = const(4096)
_TRIES = const(5)             # wrong passwords before the lock
_LOCK_MS = const(30000)
_CAPTIVE = ("/generate_204", "/gen_204", "/hotspot-detect.html", "/library/test/success.html",
            "/connecttest.txt", "/ncsi.txt", "/redirect", "/canonical.html")
_CHARGER_SLOTS = const(3)

# (path, label, input type); "" type: a choice list from the field's row
_STEPS = (
    ("Wi-Fi", (("wifi.ssid", "Network name", "text"), ("wifi.password", "Password", "password"),
               ("wifi.hostname", "Board name on the network", "text"))),
    ("Your home's supply", (("site.phases", "Phases", ""), ("site.breaker_a", "Main breaker (A)", "number"),
                            ("site.breaker_margin_a", "Safety margin (A)", "number"),
                            ("site.max_import_w", "Max import power (W, 0 = no limit)", "number"),
                            ("control.grid_source", "Grid current from", ""))),
    ("Home Assistant (MQTT)", (("mqtt.host", "Broker host", "text"), ("mqtt.port", "Port", "number"),
                               ("mqtt.username", "User", "text"), ("mqtt.password", "Password", "password"))),
    ("Admin password", (("web.admin_password", "Admin password (protects these settings)", "password"),)),
)
_CHARGER = (("id", "Charger id", "text"), ("min_a", "Min (A)", "number"), ("max_a", "Max (A)", "number"),
            ("phases", "Phases", ""), ("phase_map", "Phase map (e.g. L2L3L1, empty: as wired)", "text"),
            ("priority", "Priority (1-10)", "number"), ("password", "OCPP password (optional)", "password"))
_CSS = ("body{font:16px sans-serif;margin:0 auto;max-width:30em;padding:0 .6em}"
        "fieldset{border:1px solid #bbb;margin:.6em 0}label{display:block;margin:.4em 0 .1em}"
        "input,select{width:100%;box-sizing:border-box;font-size:16px;padding:.3em}"
        ".err{color:#b00020;font-weight:bold}.bad{border:2px solid #b00020}"
        "button{font-size:18px;padding:.5em 1.2em;margin:.8em 0}.note{color:#555;font-size:14px}")


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _get(raw, path):
    node = raw
    for p in path.split("."):
        if "[" in p:
            lst = node.get(p[:p.index("[")]) if isinstance(node, dict) else None
            i = int(p[p.index("[") + 1:-1])
            node = lst[i] if isinstance(lst, list) and i < len(lst) else None
        else:
            node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def form_changes(form, secret_set):
    """The (path, value) changes a submitted form asks for, typed as the fields' rows say.
    A field not on the form and an empty secret are "unchanged"; a charger slot without
    an id is not added. Raises
    ConfigError for a value that is not of the field's kind."""
    from dynevse.config import fields
    from dynevse.config.schema import INT, NUM, ConfigError
    changes = []
    paths = [p for _t, rows in _STEPS for p, _l, _k in rows]
    n = 0
    for i in range(_CHARGER_SLOTS):
        if (form.get("chargers[%d].id" % i) or "").strip():
            for key, _l, _k in _CHARGER:
                paths.append(("chargers[%d]." % i) + key)
            n += 1
    for path in paths:
        if path.startswith("chargers[") and not (form.get(path[:path.index("]") + 1] + ".id") or "").strip():
            continue
        text = form.get(path)
        if text is None:
            continue            # not on the form: stays as stored (or the default)
        text = text.strip()
        row = fields.field(path)
        if row is None:
            continue
        if fields.is_secret(path) and (not text and secret_set(path)):
            continue
        kind = row[1]
        if kind in (NUM, INT) or isinstance(kind, tuple) and not isinstance(kind[0], str):
            if not text:
                continue
            try:
                value = int(text) if kind == INT or isinstance(kind, tuple) else float(text)
            except ValueError:
                raise ConfigError(path, "must be a number, got %r" % text[:20])
        else:
            value = text
        changes.append((path, value))
    # a charger dropped from a slot: the slots after it move up (ids are what matter)
    return _renumber(changes), n


def _renumber(changes):
    order = []
    for path, _v in changes:
        if path.startswith("chargers["):
            i = path[9:path.index("]")]
            if i not in order:
                order.append(i)
    out = []
    for path, v in changes:
        if path.startswith("chargers["):
            i = path[9:path.index("]")]
            path = "chargers[%d]%s" % (order.index(i), path[path.index("]") + 1:])
        out.append((path, v))
    return out


class Portal:
    """``raw``: the configuration as read (or None); ``reason``: why the board is in setup."""

    def __init__(self, board, raw, reason):
        self.board = board
        self.raw = raw if isinstance(raw, dict) else {}
        self.reason = reason
        self.restart = False
        self.token = binascii.hexlify(os.urandom(8)).decode()
        self.fails = 0
        self.locked_at = None
        Request.max_content_length = _BODY_MAX
        Request.max_body_length = _BODY_MAX
        Request.max_readline = 1024
        self.app = app = Microdot()
        app.before_request(self._guard)

        @app.route("/")
        async def index(req):
            return self.page(self.raw, {}, None)

        @app.route("/save", methods=["POST"])
        async def save(req):
            return self.save(req)

        async def captive(req):
            return Response(b"", 302, {"Location": "http://%s/" % (req.headers.get("Host") or "192.168.4.1")},
                            "Found")
        for p in _CAPTIVE:
            app.route(p)(captive)

    def admin_password(self):
        return _get(self.raw, "web.admin_password") or ""

    async def _guard(self, req):
        """HTTP Basic once an admin password is set; rate-limited; CSRF token on POST."""
        want = self.admin_password()
        if want:
            now = self.board.monotonic_ms()
            if self.locked_at is not None:
                if now - self.locked_at < _LOCK_MS:
                    return Response("too many wrong passwords; wait 30 s\n", 429)
                self.locked_at = None
                self.fails = 0
            got = req.headers.get("Authorization", "")
            ok = False
            if got.startswith("Basic "):
                try:
                    ok = binascii.a2b_base64(got[6:]).decode().partition(":")[2] == want
                except (ValueError, UnicodeError):
                    pass
            if not ok:
                if got:
                    self.fails += 1
                    if self.fails >= _TRIES:
                        self.locked_at = now
                        log.warning("portal: %d wrong admin passwords; locked for 30 s", self.fails)
                return Response("the admin password is needed\n", 401,
                                {"WWW-Authenticate": 'Basic realm="DynEVSE"'})
            self.fails = 0
        if req.method == "POST":
            form = req.form
            if form is None or form.get("csrf") != self.token:
                return Response("this form has expired: open the page again\n", 403)

    def save(self, req):
        from dynevse.config.change import change
        from dynevse.config.schema import ConfigError
        form = req.form
        values = {}
        for k in form:
            values[k] = form.get(k)
        try:
            changes, n = form_changes(form, lambda p: bool(_get(self.raw, p)))
            if not n:
                raise ConfigError("chargers[0].id", "add at least one charger")
            pw = [v for p, v in changes if p == "web.admin_password"]
            if not (pw and pw[0]) and not self.admin_password():
                raise ConfigError("web.admin_password", "set an admin password: it protects these settings")
            change(self.board, None, changes)
        except ConfigError as e:
            log.warning("portal: not saved: %s", e)
            return self.page(values, {e.field: e.message}, None, 422)
        log.info("portal: configuration saved; restarting into normal operation")
        self.restart = True
        host = (form.get("wifi.hostname") or "dynevse").strip()
        return self.page(None, {}, host)

    def page(self, values, errors, saved_host, status=200):
        """The wizard (``values``: what to show; secrets never), streamed."""
        return Response(self._chunks(values, errors, saved_host), status,
                        {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})

    def _chunks(self, values, errors, saved_host):
        from dynevse.config import fields
        yield ("<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' "
               "content='width=device-width,initial-scale=1'><title>DynEVSE setup</title><style>%s</style>"
               "</head><body><h1>DynEVSE setup</h1>" % _CSS)
        if saved_host is not None:
            yield ("<p><b>Saved.</b> The board now restarts and joins your Wi-Fi. Find it next at "
                   "<a href='http://%s.local/'>http://%s.local/</a> (or the address your router gives "
                   "it); this setup network closes.</p></body></html>" % (_esc(saved_host), _esc(saved_host)))
            return
        yield "<p class='note'>The board is in setup: %s</p>" % _esc(self.reason)
        top = [f for f in errors if not any(f == p for _t, rows in _STEPS for p, _l, _k in rows)
               and not f.startswith("chargers[")]
        for f in top:
            yield "<p class='err'>%s: %s</p>" % (_esc(f), _esc(errors[f]))
        yield "<form method='post' action='/save'><input type='hidden' name='csrf' value='%s'>" % self.token
        nets = self.board.wifi_scan() if hasattr(self.board, "wifi_scan") else []
        for title, rows in _STEPS:
            yield "<fieldset><legend>%s</legend>" % title
            for path, label, kind in rows:
                yield self._field(fields, values, errors, path, label, kind,
                                  "nets" if path == "wifi.ssid" and nets else "")
            if title == "Wi-Fi" and nets:
                yield "<datalist id='nets'>"
                for ssid, rssi in nets:
                    yield "<option value='%s'>%s dBm</option>" % (_esc(ssid), rssi)
                yield "</datalist><p class='note'>Seen: %s</p>" % _esc(", ".join(
                    "%s (%d dBm)" % n for n in nets))
            yield "</fieldset>"
        host = (_get(values, "wifi.hostname") if values else None) or "dynevse"
        for i in range(_CHARGER_SLOTS):
            yield ("<fieldset><legend>Charger %d%s</legend><p class='note'>In the charger's OCPP settings "
                   "enter <b>ws://%s.local/ocpp/&lt;charger id&gt;</b>%s</p>"
                   % (i + 1, "" if i == 0 else " (optional)", _esc(host),
                      "" if i == 0 else "; leave the id empty for none"))
            for key, label, kind in _CHARGER:
                yield self._field(fields, values, errors, "chargers[%d].%s" % (i, key), label, kind, "")
            yield "</fieldset>"
        yield "<button type='submit'>Save and restart</button></form></body></html>"

    def _field(self, fields, values, errors, path, label, kind, datalist):
        from dynevse.config.schema import REQUIRED
        row = fields.field(path)
        secret = fields.is_secret(path)
        if values is None:
            v = None
        elif isinstance(values, dict) and path in values:
            v = values[path]
        else:
            v = _get(values, path)
        if v is None and row is not None and row[2] != REQUIRED:
            v = row[2]          # the default, as the schema has it
        if v is None or secret:
            v = ""
        err = errors.get(path)
        out = "<label for='%s'>%s</label>" % (path, label)
        cls = " class='bad'" if err else ""
        if kind == "":
            out += "<select id='%s' name='%s'%s>" % (path, path, cls)
            for c in row[1]:
                out += "<option%s>%s</option>" % (" selected" if str(c) == str(v) else "", c)
            out += "</select>"
        else:
            hint = ""
            if secret:
                hint = " placeholder='%s'" % ("unchanged" if _get(self.raw, path) else "")
            out += "<input id='%s' name='%s' type='%s' value='%s'%s%s%s%s>" % (
                path, path, kind, _esc(v), cls, hint, " step='any'" if kind == "number" else "",
                " list='%s'" % datalist if datalist else "")
        if err:
            out += "<div class='err'>%s</div>" % _esc(err)
        return out

    async def serve(self, host, port):
        log.info("setup portal: http://%s:%d/", host, port)
        try:
            await self.app.start_server(host, port)
        except OSError as e:        # the port taken: the safe state stays up regardless
            log.error("setup portal: can't listen on %s:%d: %s", host, port, e)
