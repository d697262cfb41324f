"""A set-up board whose Wi-Fi can't be joined (the router's password was changed) opens the
setup portal, behind its admin password, saying why; the homeowner types the new password
and the board is back in normal operation. The unix board's simulated router
(``DYNEVSE_WIFI=ssid:password``) joins only with its password."""
import base64
import html.parser
import re
import http.client
import tempfile
import time
import urllib.parse

from harness import ensure_built, wait_line  # noqa: F401  (harness sets sys.path)
from host_tools.broker import free_port
from host_tools.run import start_firmware

ADMIN_PW = "admin-Secret-71"
CONFIG = {"wifi": {"ssid": "HomeNet", "password": "old-Secret-72"}, "web": {"admin_password": ADMIN_PW},
          "control": {"cycle_s": 1, "grid_source": "none"}, "site": {"breaker_a": 25},
          "chargers": [{"id": "garage"}]}
AUTH = {"Authorization": "Basic " + base64.b64encode(("admin:" + ADMIN_PW).encode()).decode()}


def _request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    out = r.status, r.read().decode("utf-8", "replace")
    c.close()
    return out


class _Form(html.parser.HTMLParser):
    """The form's fields as a browser submits them: inputs' values, selects' chosen option."""

    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.values = {}
        self._select = None
        self._option = None         # inside an option: is it the selected one

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input":
            self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option":
            self._option = "selected" in a

    def handle_data(self, data):
        if self._option is not None:
            if self._option or self._select not in self.values:
                self.values[self._select] = data
            self._option = None


def test_wifi_that_cant_be_joined_opens_the_portal_and_a_new_password_brings_the_board_back(monkeypatch):
    ensure_built()
    monkeypatch.setenv("DYNEVSE_WIFI", "HomeNet:new-Secret-73")     # the router's new password
    state = tempfile.mkdtemp(prefix="dynevse-wifi-")
    port = free_port()
    fw = start_firmware(CONFIG, state_dir=state, rebuild=False, listen=("127.0.0.1", port))
    try:
        wait_line(fw, "can't be joined", timeout=40)
        wait_line(fw, "setup portal: http://", timeout=30)
        # the stored configuration's admin password still guards it
        assert _request(port, "GET", "/")[0] == 401
        status, page = _request(port, "GET", "/", headers=AUTH)
        assert status == 200
        assert "The board is in setup: Wi-Fi 'HomeNet' can't be joined" in page, page[:2000]
        assert "old-Secret-72" not in page and ADMIN_PW not in page
        form = _Form()
        form.feed(page)
        # what the homeowner changes: the Wi-Fi password; the rest is as stored
        assert form.values["wifi.ssid"] == "HomeNet" and form.values["chargers[0].id"] == "garage"
        form.values["wifi.password"] = "new-Secret-73"
        restarts = fw.restarts
        status, page = _request(port, "POST", "/save", urllib.parse.urlencode(form.values),
                                dict(AUTH, **{"Content-Type": "application/x-www-form-urlencoded"}))
        assert status == 200 and "joining HomeNet" in page, page
        # the page reloads itself until the board has joined, then says where it is
        for _ in range(10):
            status, page = _request(port, "GET", "/joined", headers=AUTH)
            if "joining" not in page:
                break
            time.sleep(1)
        assert status == 200 and "joined HomeNet" in page and "http://127.0.0.1:%d/" % port in page, page
        # joined: normal operation, the status page at the same address
        n = len(list(fw.lines))
        wait_line(fw, "cycle 2:", timeout=60, after=n)
        assert fw.restarts > restarts
        status, page = _request(port, "GET", "/")
        assert status == 200 and "Grid (breaker 25 A)" in page
        assert not any("can't be joined" in x for x in list(fw.lines)[n:])
    finally:
        fw.stop()


def _token(page):
    return re.search(r"name='csrf' value='([0-9a-f]+)'", page).group(1)


def test_change_settings_from_the_status_page_goes_through_setup_and_back():
    ensure_built()
    state = tempfile.mkdtemp(prefix="dynevse-settings-")
    port = free_port()
    cfg = dict(CONFIG, wifi={"ssid": "HomeNet", "password": "x"})      # the PC's network: always joined
    fw = start_firmware(cfg, state_dir=state, rebuild=False, listen=("127.0.0.1", port))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        wait_line(fw, "cycle 2:", timeout=40)
        status, page = _request(port, "GET", "/")
        assert status == 200 and "Change settings" in page
        token = _token(page)
        body = "csrf=" + token
        # the password is needed (and a browser is asked for it), then the page's token
        status, _ = _request(port, "POST", "/settings", body, form)
        assert status == 401
        status, _ = _request(port, "POST", "/settings", "csrf=0", dict(AUTH, **form))
        assert status == 403
        status, _ = _request(port, "POST", "/chargers/garage/reset", body, dict(AUTH, **form))
        assert status == 409                    # no charger connected: nothing to reset
        status, page = _request(port, "POST", "/settings", body, dict(AUTH, **form))
        assert status == 200 and "restarts into setup" in page
        n = len(list(fw.lines))
        wait_line(fw, "setup portal: http://", timeout=30, after=n)
        status, page = _request(port, "GET", "/", headers=AUTH)
        assert status == 200 and "settings asked for on the status page" in page
        f = _Form()
        f.feed(page)
        f.values["site.breaker_a"] = "32"
        status, _ = _request(port, "POST", "/save", urllib.parse.urlencode(f.values), dict(AUTH, **form))
        assert status == 200
        n = len(list(fw.lines))
        wait_line(fw, "cycle 2:", timeout=60, after=n)
        status, page = _request(port, "GET", "/")
        assert "Grid (breaker 32 A)" in page
    finally:
        fw.stop()
