"""Fixtures for the real-broker tests: a private Mosquitto per test session, boards that
are killed at the end of each test, an independent client. The kit is mqtt_harness.py
(its own module name, so it never clashes with another directory's conftest).
"""
import shutil
import tempfile

import pytest

from mqtt_harness import MICROPYTHON_HEAP, Board, Broker, Probe, compile_firmware


@pytest.fixture(scope="session")
def broker():
    tmp = tempfile.mkdtemp(prefix="dynevse-mosquitto-")
    b = Broker(tmp)
    b.start()
    yield b
    b.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def firmware_mpy():
    d = tempfile.mkdtemp(prefix="dynevse-mpy-")
    yield compile_firmware(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def boards(tmpdir_path, firmware_mpy):
    """start(runtime, setup[, heap, micropython]) -> a running Board (``micropython``: another
    port's binary, e.g. the board model); all are killed at the end of the test."""
    started = []

    def start(runtime, setup, heap=MICROPYTHON_HEAP, micropython=None):
        b = Board(runtime, setup, tmpdir_path, firmware_mpy, heap, micropython)
        started.append(b)
        return b
    yield start
    for b in started:
        b.close()


@pytest.fixture
def probe(broker):
    p = Probe(broker)
    yield p
    p.close()


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="dynevse-mqtt-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
