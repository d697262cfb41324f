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


def _query(name, qid=0x4242):
    """A DNS query for ``name``'s A record (RFC 1035 4.1), built by hand."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + q + b"\x00\x01\x00\x01"


def test_setup_dns_answers_every_name_with_the_board(monkeypatch):
    import socket
    ensure_built()
    dns_port = free_port()          # a free TCP port number; the UDP one is free as well here
    monkeypatch.setenv("DYNEVSE_DNS_PORT", str(dns_port))
    state = tempfile.mkdtemp(prefix="dynevse-portal-")
    fw = start_firmware(None, state_dir=state, rebuild=False, listen=("127.0.0.1", free_port()))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        wait_line(fw, "setup DNS: every name is this board")
        s.sendto(b"\x00\x01garbage", ("127.0.0.1", dns_port))          # no answer, no harm
        for name, qid in (("connectivitycheck.gstatic.com", 0x1234), ("captive.apple.com", 0x0777)):
            s.sendto(_query(name, qid), ("127.0.0.1", dns_port))
            reply, _ = s.recvfrom(512)
            q = _query(name, qid)
            # same id; QR + RD + RA, no error; one question (echoed), one answer
            assert reply[:2] == q[:2] and reply[2:4] == b"\x81\x80" and reply[4:8] == b"\x00\x01\x00\x01"
            assert reply[12:len(q)] == q[12:]
            # the answer: a pointer to the name, type A, class IN, 4 bytes: the unix board's address
            assert reply[len(q):len(q) + 6] == b"\xc0\x0c\x00\x01\x00\x01"
            assert socket.inet_ntoa(reply[-4:]) == "127.0.0.1"
    finally:
        s.close()
        fw.stop()
