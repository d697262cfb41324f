"""The setup portal: the wizard a homeowner or an electrician fills in on a phone.

Served by microdot while the board is in the safe state (no usable configuration: nothing
else runs then). One page, no JavaScript, no external assets; every field is named by its
configuration path, and saving goes through ``config.change`` — the same whole check the
board boots with — so an error is shown next to the field it names and nothing is stored
until the whole configuration is valid. After a save the board joins the saved Wi-Fi while
the page waits (``/joined`` reloads itself), says where to find the board next — its
address, and ``http://<hostname>.local/`` where the port answers mDNS — and restarts into
normal operation (``saved``, ``joined`` and ``shown`` tell the safe state how far it is). The phones' connectivity checks are redirected to the wizard.

Once an admin password is stored, every page needs it (HTTP Basic); wrong passwords are
rate-limited; a POST needs the page's CSRF token; secrets are never sent back.
"""
import binascii
import os

from microdot import Microdot, Request, Response

from dynevse import log
from dynevse.compat import const
from dynevse.web import password

_BODY_MAX = const(4096)
_CAPTIVE = ("/generate_204", "/gen_204", "/hotspot-detect.html", "/library/test/success.html",
            "/connecttest.txt", "/ncsi.txt", "/redirect", "/canonical.html")
_CHARGER_SLOTS = const(3)

_YESNO = ("no", "yes")
# (path, label, input type); "" type: a choice list from the field's row, a tuple: these choices
_STEPS = (
    ("Wi-Fi", (("wifi.ssid", "Network name", "text"), ("wifi.password", "Password", "password"),
               ("wifi.hostname", "Board name on the network", "text"))),
    ("Your home's supply", (("site.phases", "Phases", ""), ("site.breaker_a", "Main breaker (A)", "number"),
                            ("site.breaker_margin_a", "Safety margin (A)", "number"),
                            ("site.max_import_w", "Max import power (W, 0 = no limit)", "number"),
                            ("control.grid_source", "Grid current from", ""))),
    ("Home battery", (("site.battery", "Is there a home battery?", _YESNO),
                      ("site.battery.soc_min", "Below this charge it is not used for the cars (%)", "number"),
                      ("site.battery.soc_target", "Charge it reaches before Solar and Excess give its solar to a car (%)", "number"),
                      ("site.battery.max_charge_w", "Most power it takes when charging (W)", "number"),
                      ("site.battery.max_discharge_w", "Most power it gives when discharging (W)", "number"))),
    ("Home Assistant (MQTT)", (("mqtt.host", "Broker host", "text"), ("mqtt.port", "Port", "number"),
                               ("mqtt.username", "User", "text"), ("mqtt.password", "Password", "password"))),
    ("Admin password", (("web.admin_password", "Admin password (protects these settings)", "password"),)),
)
# the site-data inputs the wizard offers (config.check.quantities has them all), with labels
_INPUTS = (("grid_l1", "Grid L1"), ("grid_l2", "Grid L2"), ("grid_l3", "Grid L3"),
           ("grid_total", "Grid total (instead of per phase)"), ("solar", "Solar power"),
           ("battery_soc", "Battery charge"), ("battery_power", "Battery power (+ charging)"))
_CHARGER = (("id", "Charger id", "text"), ("min_a", "Min (A)", "number"), ("max_a", "Max (A)", "number"),
            ("phases", "Phases", ""), ("phase_map", "Phase map (e.g. L2L3L1, empty: as wired)", "text"),
            ("priority", "Priority (1-10)", "number"), ("password", "OCPP password (optional)", "password"))
_CSS = ("body{font:16px sans-serif;margin:0 auto;max-width:30em;padding:0 .6em}"
        "fieldset{border:1px solid #bbb;margin:.6em 0}label{display:block;margin:.4em 0 .1em}"
        "input,select{width:100%;box-sizing:border-box;font-size:16px;padding:.3em}"
        ".err{color:#b00020;font-weight:bold}.bad{border:2px solid #b00020}"
        ".row{display:flex;gap:.3em}.row div{flex:2;min-width:0}.row div:first-child{flex:3}.row div:last-child{flex:1.2}"
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
    battery = form.get("site.battery")
    if battery == "no":
        changes.append(("site.battery", False))
    for q, _l in _INPUTS:
        p = "mqtt.inputs." + q
        topic = form.get(p + ".topic")
        if topic is None:
            continue                # not on the form: stays as stored
        if not topic.strip():
            changes.append((p, None))
            continue
        changes.append((p + ".topic", topic.strip()))
        changes.append((p + ".field", (form.get(p + ".field") or "").strip()))
        if form.get(p + ".unit"):
            changes.append((p + ".unit", form.get(p + ".unit")))
    for path in paths:
        if path == "site.battery" or path.startswith("site.battery.") and battery == "no":
            continue
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
        self.saved = None           # after a save: (wifi settings, web port) to join with
        self.joined = None          # then the address joined, or "" when the join failed
        self.shown = False          # the page saying so has been sent
        self.token = binascii.hexlify(os.urandom(8)).decode()
        self.lock = password.new_lock()
        Request.max_content_length = _BODY_MAX
        Request.max_body_length = _BODY_MAX
        Request.max_readline = 1024
        self.app = app = Microdot()
        app.before_request(self._guard)

        @app.route("/")
        async def index(req):
            return self.page(self.raw, {})

        @app.route("/save", methods=["POST"])
        async def save(req):
            return self.save(req)

        @app.route("/joined")
        async def joined(req):
            return self.joined_page()

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
            got = password.check(self.lock, req.headers.get("Authorization", ""), want,
                                 self.board.monotonic_ms())
            if got == "locked":
                return Response("too many wrong passwords; wait 30 s\n", 429)
            if got == "wrong":
                if self.lock[0] >= password.TRIES:
                    log.warning("portal: %d wrong admin passwords; locked for 30 s", password.TRIES)
                return Response("the admin password is needed\n", 401,
                                {"WWW-Authenticate": 'Basic realm="DynEVSE"'})
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
            new = change(self.board, None, changes)
        except ConfigError as e:
            log.warning("portal: not saved: %s", e)
            return self.page(values, {e.field: e.message}, 422)
        log.info("portal: configuration saved; joining %r, then restarting into normal operation",
                 new["wifi"]["ssid"])
        # the port the board will answer on (the unix port's may be set from outside)
        self.saved = (new["wifi"], self.board.listen_address(new["web"]["port"])[1])
        return self.joined_page()

    def joined_page(self):
        """After a save: "joining" (reloading itself every 2 s), then where the board is."""
        if self.saved is None:
            return Response(b"", 302, {"Location": "/"}, "Found")
        wifi, port = self.saved
        ssid = _esc(wifi["ssid"] or "your Wi-Fi")
        if self.joined is None:
            body = "<p><b>Saved.</b> The board is joining %s&hellip;</p>" % ssid
        elif self.joined:
            urls = [self.url(self.joined, port)]
            if getattr(self.board, "mdns", False):
                urls.append(self.url(wifi["hostname"] + ".local", port))
            body = ("<p><b>Saved, and joined %s.</b> Find the board next at %s (connect your phone to "
                    "%s first). It restarts now and this setup network closes.</p>"
                    % (ssid, " or ".join("<a href='%s'>%s</a>" % (u, u) for u in urls), ssid))
            self.shown = True
        else:
            body = ("<p class='err'>Saved, but %s could not be joined.</p><p>Check its name and password. "
                    "The board restarts now, keeps trying, and opens this setup network again while it "
                    "can't join.</p>" % ssid)
            self.shown = True
        return Response(self._head("<meta http-equiv='refresh' content='2;url=/joined'>" if self.joined is None
                                   else "") + body + "</body></html>", 200,
                        {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})

    @staticmethod
    def url(host, port):
        return "http://%s/" % _esc(host) if port == 80 else "http://%s:%d/" % (_esc(host), port)

    def page(self, values, errors, status=200):
        """The wizard (``values``: what to show; secrets never), streamed."""
        return Response(self._chunks(values, errors), status,
                        {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})

    def _head(self, extra=""):
        return ("<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' "
                "content='width=device-width,initial-scale=1'>%s<title>DynEVSE setup</title><style>%s</style>"
                "</head><body><h1>DynEVSE setup</h1>" % (extra, _CSS))

    def _chunks(self, values, errors):
        yield self._head()
        yield "<p class='note'>The board is in setup: %s</p>" % _esc(self.reason)
        top = [f for f in errors if not any(f == p for _t, rows in _STEPS for p, _l, _k in rows)
               and not f.startswith("chargers[") and not f.startswith("mqtt.inputs.")]
        for f in top:
            yield "<p class='err'>%s: %s</p>" % (_esc(f), _esc(errors[f]))
        yield "<form method='post' action='/save'><input type='hidden' name='csrf' value='%s'>" % self.token
        nets = self.board.wifi_scan() if hasattr(self.board, "wifi_scan") else []
        for title, rows in _STEPS:
            yield "<fieldset><legend>%s</legend>" % title
            for path, label, kind in rows:
                yield self._field(values, errors, path, label, kind,
                                  "nets" if path == "wifi.ssid" and nets else "")
            if title == "Wi-Fi" and nets:
                yield "<datalist id='nets'>"
                for ssid, rssi in nets:
                    yield "<option value='%s'>%s dBm</option>" % (_esc(ssid), rssi)
                yield "</datalist><p class='note'>Seen: %s</p>" % _esc(", ".join(
                    "%s (%d dBm)" % n for n in nets))
            yield "</fieldset>"
            if title == "Your home's supply":
                for chunk in self._inputs(values, errors):
                    yield chunk
        host = (_get(values, "wifi.hostname") if values else None) or "dynevse"
        for i in range(_CHARGER_SLOTS):
            yield ("<fieldset><legend>Charger %d%s</legend><p class='note'>In the charger's OCPP settings "
                   "enter <b>ws://%s.local/ocpp/&lt;charger id&gt;</b>%s</p>"
                   % (i + 1, "" if i == 0 else " (optional)", _esc(host),
                      "" if i == 0 else "; leave the id empty for none"))
            for key, label, kind in _CHARGER:
                yield self._field(values, errors, "chargers[%d].%s" % (i, key), label, kind, "")
            yield "</fieldset>"
        yield "<button type='submit'>Save and restart</button></form></body></html>"

    def _inputs(self, values, errors):
        from dynevse.mqtt.inputs import QUANTITIES
        units = {}
        for line in QUANTITIES.split("\n"):
            q = line.split(" ")
            units[q[0]] = tuple(q[1].split(","))
        yield ("<fieldset><legend>Site data from MQTT</legend><p class='note'>The topics your meter, "
               "inverter and battery publish (empty: not read). JSON field: where the number is in "
               "the message, like ENERGY.Power (empty: the message is the number).</p>")
        for q, label in _INPUTS:
            p = "mqtt.inputs." + q
            yield "<p style='margin:.5em 0 0'><b>%s</b></p><div class='row'>" % label
            for key, small, kind in (("topic", "Topic", "text"), ("field", "JSON field", "text"),
                                     ("unit", "Unit", units[q])):
                yield "<div>" + self._field(values, errors, p + "." + key, small, kind, "") + "</div>"
            yield "</div>"
        yield "</fieldset>"

    def _field(self, values, errors, path, label, kind, datalist):
        from dynevse.config import fields
        from dynevse.config.schema import REQUIRED
        row = fields.field(path)
        secret = fields.is_secret(path)
        if values is None:
            v = None
        elif isinstance(values, dict) and path in values:
            v = values[path]
        else:
            v = _get(values, path)
        if kind is _YESNO and not isinstance(v, str):
            v = _YESNO[isinstance(v, dict)]     # the stored battery: a table, or none
        if v is None and row is not None and row[2] != REQUIRED:
            v = row[2]          # the default, as the schema has it
        if v is None or secret:
            v = ""
        err = errors.get(path)
        out = "<label for='%s'>%s</label>" % (path, label)
        cls = " class='bad'" if err else ""
        if kind == "" or isinstance(kind, tuple):
            out += "<select id='%s' name='%s'%s>" % (path, path, cls)
            for c in kind or row[1]:
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
