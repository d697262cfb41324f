"""The setup portal in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) completes the wizard against the firmware under the
MicroPython unix port, sees field errors for bad input, saves, and finds the board
restarted into normal operation: control cycles, a charger connects, the status page.

Screenshots (360 px wide, a phone) go to tests/screenshots/ (ignored by git).
"""
import asyncio
import base64
import http.client
import os
import tempfile
import urllib.parse

from harness import ROOT, ensure_built, saved, wait_line  # noqa: F401  (harness sets sys.path)
from host_tools.broker import free_port
from host_tools.run import start_firmware

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
SHOTS = os.path.join(ROOT, "tests", "screenshots")
# secrets typed into the wizard: none may ever come back in a page
WIFI_PW, MQTT_PW, OCPP_PW, ADMIN_PW = "wifi-Secret-81", "mqtt-Secret-82", "ocpp-Secret-83", "admin-Secret-84"


def _request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    out = r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    c.close()
    return out


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=360,1400", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def _shot(drv, name):
    os.makedirs(SHOTS, exist_ok=True)
    # the whole page at 360 px: grow the window to the document's height
    drv.set_window_size(360, 640)
    h = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(360, min(max(h + 100, 640), 4000))
    # the window's frame takes some of it: grow by what is still hidden
    d = drv.execute_script("return document.documentElement.scrollHeight - window.innerHeight")
    if d > 0:
        drv.set_window_size(360, min(max(h + 100, 640) + d, 4400))
    drv.save_screenshot(os.path.join(SHOTS, name + ".png"))


def _fill(drv, values):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    for name, v in values.items():
        el = drv.find_element(By.NAME, name)
        if el.tag_name == "select":
            Select(el).select_by_visible_text(str(v))
        else:
            el.clear()
            el.send_keys(str(v))


def _submit(drv):
    """Click Save and wait for the answer page to replace this one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    # a mark on this page's window: a new document starts without it. Asking an old
    # element whether it went stale can itself fail while Chromium swaps documents
    # ("Node with given id does not belong to the document"), so ask the window instead
    drv.execute_script("window.__before_submit = true")
    drv.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def answered(d):
        try:
            return d.execute_script(
                "return !window.__before_submit && document.readyState === 'complete'")
        except WebDriverException:      # the document is being replaced: ask again
            return False
    WebDriverWait(drv, 15).until(answered)


def _submit_expect_error(drv, state, values, field, words):
    """Submit with ``values``; the error must be next to ``field`` and nothing stored."""
    from selenium.webdriver.common.by import By
    _fill(drv, values)
    _submit(drv)
    errs = drv.find_elements(By.CSS_SELECTOR, "[id='%s'] + .err" % field)
    assert errs, "no error next to %s; the page says: %s" % (
        field, [e.text for e in drv.find_elements(By.CSS_SELECTOR, ".err")])
    err = errs[0]
    assert words in err.text, err.text
    assert "bad" in drv.find_element(By.ID, field).get_attribute("class")
    assert not os.path.exists(os.path.join(state, "config.json")), "stored although invalid"


async def _charger_boots(port, cp_id):
    import websockets
    from ocpp.v16 import ChargePoint, call
    auth = base64.b64encode(("%s:%s" % (cp_id, OCPP_PW)).encode()).decode()
    async with websockets.connect("ws://127.0.0.1:%d/ocpp/%s" % (port, cp_id), subprotocols=["ocpp1.6"],
                                  additional_headers={"Authorization": "Basic " + auth}) as ws:
        cp = ChargePoint(cp_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            r = await asyncio.wait_for(cp.call(call.BootNotification(
                charge_point_model="Wallbox", charge_point_vendor="Test")), 10)
        finally:
            task.cancel()
        return r.status


def test_wizard_in_chromium_then_status_page():
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    ensure_built()
    state = tempfile.mkdtemp(prefix="dynevse-portal-")
    port = free_port()
    fw = start_firmware(None, state_dir=state, rebuild=False, listen=("127.0.0.1", port))
    drv = None
    try:
        wait_line(fw, "setup portal: http://")
        base = "http://127.0.0.1:%d" % port

        # the phones' connectivity checks are sent to the wizard
        for path in ("/generate_204", "/hotspot-detect.html", "/connecttest.txt", "/ncsi.txt"):
            status, headers, _ = _request(port, "GET", path, headers={"Host": "192.168.4.1"})
            assert status == 302 and headers["Location"] == "http://192.168.4.1/", (path, status, headers)
        # a POST without the page's CSRF token, and an oversized one: refused, nothing stored
        status, _, _ = _request(port, "POST", "/save", "site.breaker_a=20",
                                {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 403
        status, _, _ = _request(port, "POST", "/save", "x=" + "a" * 10000,
                                {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 413
        status, _, _ = _request(port, "GET", "/" + "a" * 3000)   # a request line over 1 KB
        assert 400 <= status < 500
        assert not os.path.exists(os.path.join(state, "config.json"))

        drv = _browser()
        drv.get(base + "/generate_204")          # what the phone opens by itself
        assert drv.find_element(By.TAG_NAME, "h1").text == "DynEVSE setup"
        # the simulated scan, strongest first
        assert "HomeNet (-48 dBm), HomeNet-5G (-57 dBm)" in drv.page_source
        _shot(drv, "1-wizard")
        good = {"wifi.ssid": "HomeNet", "wifi.password": WIFI_PW, "wifi.hostname": "garage-panel",
                "site.phases": 3, "site.breaker_a": 25, "site.breaker_margin_a": 2,
                "control.grid_source": "none",
                "mqtt.host": "", "mqtt.username": "ha", "mqtt.password": MQTT_PW,
                "chargers[0].id": "garage", "chargers[0].min_a": 6, "chargers[0].max_a": 16,
                "chargers[0].password": OCPP_PW,
                "chargers[1].id": "carport", "chargers[1].min_a": 6, "chargers[1].max_a": 10,
                "site.battery": "yes", "site.battery.soc_min": 15, "site.battery.soc_target": 90,
                "site.battery.max_charge_w": 3000, "site.battery.max_discharge_w": 4000,
                "mqtt.inputs.grid_l1.topic": "meter/grid", "mqtt.inputs.grid_l1.field": "l1_a",
                "mqtt.inputs.solar.topic": "inverter/pv", "mqtt.inputs.solar.unit": "kW",
                "mqtt.inputs.battery_soc.topic": "inverter/battery", "mqtt.inputs.battery_soc.field": "soc",
                "web.admin_password": ADMIN_PW}
        # each bad input is named next to its field; the schema's words (breaker 1..1000 A)
        _submit_expect_error(drv, state, dict(good, **{"site.breaker_a": -5}), "site.breaker_a", "from 1 to 1000")
        _shot(drv, "2-error-breaker")
        _submit_expect_error(drv, state, dict(good, **{"chargers[0].min_a": 20}), "chargers[0].min_a", "max_a")
        _submit_expect_error(drv, state, dict(good, **{"chargers[1].id": "garage"}), "chargers[1].id", "garage")
        _shot(drv, "3-error-duplicate-id")
        _submit_expect_error(drv, state, dict(good, **{"web.admin_password": ""}), "web.admin_password",
                             "admin password")
        # the battery's and the site data's own rules (config.check's words)
        _submit_expect_error(drv, state, dict(good, **{"site.battery.soc_min": 95}), "site.battery.soc_min",
                             "soc_target")
        _submit_expect_error(drv, state, dict(good, **{"mqtt.inputs.grid_l1.topic": "meter/#"}),
                             "mqtt.inputs.grid_l1.topic", "without + #")
        _shot(drv, "3b-error-topic")
        # a secret typed before an error is not sent back
        assert WIFI_PW not in drv.page_source and OCPP_PW not in drv.page_source

        _fill(drv, good)
        _submit(drv)
        assert "joining HomeNet" in drv.find_element(By.TAG_NAME, "body").text
        # the page reloads itself until the board has joined, then says where the board is;
        # the unix port answers no mDNS, so no .local name is offered
        WebDriverWait(drv, 20).until(lambda d: "joined HomeNet" in d.find_element(By.TAG_NAME, "body").text)
        text = drv.find_element(By.TAG_NAME, "body").text
        assert "http://127.0.0.1:%d/" % port in text and ".local" not in text, text
        _shot(drv, "4-saved")
        cfg = saved(state)
        assert cfg["site"]["battery"] == {"soc_min": 15, "soc_target": 90, "max_charge_w": 3000,
                                          "max_discharge_w": 4000}
        assert cfg["mqtt"]["inputs"] == {
            "grid_l1": {"topic": "meter/grid", "field": "l1_a", "unit": "A"},
            "solar": {"topic": "inverter/pv", "field": "", "unit": "kW"},
            "battery_soc": {"topic": "inverter/battery", "field": "soc", "unit": "%"}}

        # the board restarts with that configuration: cycles run, a configured charger connects
        wait_line(fw, "cycle 2:", timeout=60)
        assert fw.restarts >= 1
        assert asyncio.run(_charger_boots(port, "garage")) == "Accepted"
        wait_line(fw, "garage", timeout=20)
        drv.get(base + "/")
        text = drv.find_element(By.TAG_NAME, "body").text
        assert "Grid (breaker 23 A)" in text           # 25 A less the 2 A margin
        assert "garage" in text and "carport" in text
        assert "charger carport is not connected" in text
        _shot(drv, "5-status")

        # no secret in any page or JSON; no POST accepted by the status page
        for path in ("/", "/status.json"):
            status, _, body = _request(port, "GET", path)
            assert status == 200
            for secret in (WIFI_PW, MQTT_PW, OCPP_PW, ADMIN_PW):
                assert secret not in body, (path, secret)
        status, _, _ = _request(port, "POST", "/", urllib.parse.urlencode({"site.breaker_a": 99}))
        assert status == 405
    finally:
        if drv is not None:
            drv.quit()
        fw.stop()
