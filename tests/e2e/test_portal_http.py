"""The setup portal of a board whose stored configuration is broken but has an admin
password: every page needs that password, wrong ones are rate-limited, nothing is shown
of the stored secrets. (Over plain HTTP: what a phone's browser sends.)"""
import base64
import http.client
import json
import os
import tempfile

from harness import ensure_built, wait_line  # noqa: F401  (harness sets sys.path)
from host_tools.broker import free_port
from host_tools.run import start_firmware

ADMIN_PW = "admin-Secret-91"
BROKEN = {"web": {"admin_password": ADMIN_PW}, "wifi": {"ssid": "HomeNet", "password": "wifi-Secret-92"},
          "site": {"breaker_a": -1}, "chargers": [{"id": "garage"}]}


def _get(port, password=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {}
    if password is not None:
        h["Authorization"] = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
    c.request("GET", "/", headers=h)
    r = c.getresponse()
    out = r.status, r.read().decode()
    c.close()
    return out


def test_admin_password_guards_the_portal_and_wrong_ones_lock_it():
    ensure_built()
    state = tempfile.mkdtemp(prefix="dynevse-portal-")
    with open(os.path.join(state, "config.json"), "w") as f:
        json.dump(BROKEN, f)
    port = free_port()
    fw = start_firmware(None, state_dir=state, rebuild=False, listen=("127.0.0.1", port))
    try:
        wait_line(fw, "setup portal: http://")
        assert _get(port)[0] == 401
        status, body = _get(port, ADMIN_PW)
        assert status == 200
        # why it is in setup, in words; the stored secrets never come back
        assert "breaker_a" in body and "placeholder='unchanged'" in body
        assert ADMIN_PW not in body and "wifi-Secret-92" not in body
        for _ in range(5):                       # _TRIES wrong passwords
            assert _get(port, "guess")[0] == 401
        assert _get(port, ADMIN_PW)[0] == 429    # locked, even for the right one, for 30 s
    finally:
        fw.stop()
