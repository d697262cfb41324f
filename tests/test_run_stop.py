"""Runs stop cleanly: `host_tools run` on SIGTERM and when it is killed outright, the
simulator on Ctrl-C; nothing they started is left and their ports are free again."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r"^sim: chargers=2 profiles=\d+ energy_kwh=\d+\.\d{3} max_phase_a=\d+\.\d{2} breaker_a=25$")


def descendants(pid):
    """Every process below ``pid`` (children in their own sessions included)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening_ports(pids):
    """The TCP ports the processes ``pids`` listen on (from /proc: their sockets' inodes)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:        # 0A: LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def port_free(port):
    """Nobody listens on ``port``: it can be listened on again (connections that just
    closed may linger in TIME_WAIT, which SO_REUSEADDR allows, as servers set it)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Output:
    """A child's output lines, read in the background."""

    def __init__(self, stream):
        self.lines = []
        self.t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.t.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            time.sleep(0.1)
        raise AssertionError("no %r within %d s:\n%s" % (pattern, timeout, "\n".join(self.lines[-30:])))


started = []          # runners started by a test, for the clean-up after a failure


@pytest.fixture(autouse=True)
def leave_nothing_behind():
    """Whatever a failing test leaves running is killed (what it started, and below)."""
    yield
    while started:
        p = started.pop()
        for pid in descendants(p.pid) + [p.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait(10)


def start_run(tmp_path, log_level="info"):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"device": {"id": "stop-test", "log_level": log_level},
                               "control": {"grid_source": "none", "cycle_s": 1}, "chargers": [{"id": "cp1"}]}))
    p = subprocess.Popen([sys.executable, "-m", "host_tools", "run", "--config", str(cfg)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    started.append(p)
    out = Output(p.stdout)
    # a PC run: the loopback and a free high port, said before anything else
    port = int(out.wait_for(r"^run: the firmware listens on 127\.0\.0\.1:(\d+); chargers connect to "
                            r"ws://127\.0\.0\.1:\d+/ocpp/<charger id>", 60).group(1))
    assert port > 1024
    # the firmware is up once it listens (after its first boot's restart)
    end = time.monotonic() + 60
    while True:
        kids = descendants(p.pid)
        if port in listening_ports(kids):
            return p, out, port, kids
        assert time.monotonic() < end, "\n".join(out.lines)
        time.sleep(0.1)


def test_run_stops_on_sigterm_and_leaves_nothing(tmp_path):
    p, out, port, kids = start_run(tmp_path)
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0, "\n".join(out.lines[-20:])
    out.t.join(5)
    assert out.lines[-1] == "run: stopped (SIGTERM)"
    assert not [k for k in kids if alive(k)]
    assert port_free(port)


def test_the_firmware_does_not_outlive_a_killed_runner(tmp_path):
    # SIGKILL leaves the runner no chance to clean up: the kernel stops the firmware. A
    # quiet firmware (errors only) would not even notice its output going nowhere.
    p, out, port, kids = start_run(tmp_path, log_level="error")
    p.kill()
    p.wait(10)
    end = time.monotonic() + 10
    while time.monotonic() < end and [k for k in kids if alive(k)]:
        time.sleep(0.1)
    assert not [k for k in kids if alive(k)]
    assert port_free(port)


def test_sim_ctrl_c_exits_0_with_its_summary(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "host_tools", "sim"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    started.append(p)
    out, err = Output(p.stdout), Output(p.stderr)
    out.wait_for(r"Dynamic OCPP EVSE simulator .* Ctrl-C to stop", 90)    # the live table runs
    out.wait_for(r"^cp1 +up ", 60)                                          # a charger is connected
    kids = descendants(p.pid)
    ports = listening_ports(kids)
    assert len(ports) >= 2, ports            # the broker's and the firmware's
    p.send_signal(signal.SIGINT)
    assert p.wait(40) == 0, "\n".join(err.lines[-20:])
    out.t.join(5)
    err.t.join(5)
    assert SUMMARY.match(out.lines[-1]), out.lines[-1]
    assert any("(stopped by Ctrl-C)" in l for l in err.lines), err.lines
    assert not [k for k in kids if alive(k)]
    assert all(port_free(x) for x in ports)


def test_an_interrupted_sim_fails_only_for_what_went_wrong_until_then():
    from host_tools import sim
    r = sim.Report(breaker_a=25)
    r.interrupted = True
    assert r.exit_code() == sim.EXIT_OK               # cut short before any profile: no failure
    r.max_phase_a = 25.5
    assert r.exit_code() == sim.EXIT_INTERRUPTED      # a phase above the breaker before the Ctrl-C
    r.max_phase_a = 20
    r.firmware_died = True
    assert r.exit_code() == sim.EXIT_INTERRUPTED == 130
    r.interrupted = r.firmware_died = False
    assert r.exit_code() == sim.EXIT_NO_PROFILE       # a whole run without a profile still fails
