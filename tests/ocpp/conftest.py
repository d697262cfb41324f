"""One OCPP server per runtime (CPython and the MicroPython unix port) for the tests in
this directory; each test uses its own charger ids, so tests do not share state."""
import pytest

from ocpp_peer import Server, compile_mpy

RUNTIMES = ("cpython", "micropython")

# Every test's charger ids with their options; the server knows all of them. The
# bad-input tests share BAD (the misbehaving charger) and WITNESS (a good one beside it).
CHARGERS = [
    {"id": "FLOW"}, {"id": "WONLY"}, {"id": "POWER"}, {"id": "TWO-A"}, {"id": "TWO-B", "phases": 1},
    {"id": "RECON"}, {"id": "REPLACE"}, {"id": "SECRET", "password": "s3cret-pw"}, {"id": "NOBOOT"},
    {"id": "QUIRKS", "profile_kind": "absolute", "connector_id": 1, "stack_level": 0,
     "stop_method": "remote_stop"},
    {"id": "LOW-STACK"}, {"id": "NOPROTO"}, {"id": "CMDS"}, {"id": "BAD"}, {"id": "WITNESS"},
]   # 15: a site has at most 16 chargers (config/site.py)

CONFIG = {
    "ocpp": {"boot_wait_s": 1, "call_timeout_s": 10, "max_message_bytes": 4096,
             "heartbeat_interval_s": 300, "meter_sample_interval_s": 10, "log_lines": 20},
    "chargers": CHARGERS,
}


# The sender's tests (test_sender.py): profiles of the schema's shortest duration (60 s,
# sent again 20 s before they lapse) on a server whose clock runs CLOCK_RATE times as fast
# as real time, against charge points keeping their profiles on a clock of the same rate
# (serve.py explains why that is honest): three durations pass in 18 s.
CLOCK_RATE = 10
SENDER_CONFIG = {
    "ocpp": {"boot_wait_s": 1, "call_timeout_s": 10, "max_message_bytes": 4096, "heartbeat_interval_s": 300,
             "meter_sample_interval_s": 10, "log_lines": 40, "profile_duration_s": 60, "refresh_before_s": 20},
    "chargers": [{"id": "ZERO"}, {"id": "ZERO0"}, {"id": "TXONLY"}, {"id": "CPMAX"}, {"id": "REFUSER"},
                 {"id": "LATECONF"}, {"id": "LAGGARD"}],
}


@pytest.fixture(scope="session")
def mpy_dir(tmp_path_factory):
    return compile_mpy(str(tmp_path_factory.mktemp("mpy")))


@pytest.fixture(scope="session", params=RUNTIMES)
def server(request, tmp_path_factory, mpy_dir):
    srv = Server(request.param, CONFIG, str(tmp_path_factory.mktemp(request.param)), mpy_dir)
    yield srv
    alive = srv.alive()
    srv.stop()
    assert alive, "the %s server died:\n%s" % (request.param, srv.log_tail())


@pytest.fixture(scope="session", params=RUNTIMES)
def sender_server(request, tmp_path_factory, mpy_dir):
    srv = Server(request.param, SENDER_CONFIG, str(tmp_path_factory.mktemp("sender-" + request.param)), mpy_dir,
                 CLOCK_RATE)
    yield srv
    alive = srv.alive()
    srv.stop()
    assert alive, "the %s server died:\n%s" % (request.param, srv.log_tail())
