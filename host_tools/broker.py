"""A private MQTT broker on a free loopback port, for the simulator and bench runs.

    broker = start_broker()          # Mosquitto when installed, else amqtt in-process
    ... broker.host, broker.port, broker.kind ...
    broker.stop()

Mosquitto is looked for on PATH and in /usr/sbin (Debian installs it there, off a normal
user's PATH). It runs with its own config file in a temp dir (anonymous, loopback only,
no persistence) in its own process group, so stopping it leaves nothing behind. Without
Mosquitto an amqtt broker runs in this process, on an asyncio loop in a daemon thread: that
keeps start/stop synchronous and the broker independent of the caller's own event loop.
"""
import asyncio
import atexit
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HOST = "127.0.0.1"
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10
MOSQUITTO_PLACES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(Exception):
    pass


def free_port():
    """A TCP port on the loopback that nobody listens on right now."""
    s = socket.socket()
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def find_mosquitto():
    """The mosquitto executable, or None."""
    path = shutil.which("mosquitto")
    if path:
        return path
    for p in MOSQUITTO_PLACES:
        if os.access(p, os.X_OK):
            return p
    return None


def _accepting(port):
    try:
        socket.create_connection((HOST, port), 0.2).close()
        return True
    except OSError:
        return False


class MosquittoBroker:
    """Mosquitto as a child process in its own process group."""

    kind = "mosquitto"

    def __init__(self, exe, port=None):
        self.exe = exe
        self.host = HOST
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="dynevse-broker-")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.proc = None

    def start(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            # as root, mosquitto would switch to the "mosquitto" user, which can't write
            # into our private temp dir: stay whoever we are
            f.write("user %s\n" % pwd.getpwuid(os.getuid()).pw_name)
            f.write("listener %d %s\n" % (self.port, HOST))
            f.write("allow_anonymous true\npersistence false\n")
            f.write("log_dest file %s\nlog_type error\nlog_type warning\n" % self.log_path)
        self.proc = subprocess.Popen([self.exe, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        # its own session survives us: a test whose set-up failed before it could stop
        # the broker (or any other early exit) must not leave it running
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepting(self.port):
            if self.proc.poll() is not None:
                raise BrokerError("mosquitto exited with %s: %s" % (self.proc.returncode, self._log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError("mosquitto did not listen on port %d within %d s"
                                  % (self.port, START_TIMEOUT_S))
            time.sleep(0.05)
        return self

    def _log_tail(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stop the broker (again: nothing)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT_S)
        shutil.rmtree(self.dir, ignore_errors=True)


class AmqttBroker:
    """amqtt's broker on its own asyncio loop in a daemon thread of this process."""

    kind = "amqtt"

    def __init__(self, port=None):
        self.host = HOST
        self.port = port or free_port()
        self.loop = None
        self.thread = None
        self.broker = None

    def start(self):
        from amqtt.broker import Broker
        # amqtt logs every connection and packet at INFO: keep the terminal for the sim
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": "%s:%d" % (HOST, self.port)}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="amqtt-broker", daemon=True)
        self.thread.start()

        async def make_and_start():
            self.broker = Broker(config)
            await self.broker.start()

        try:
            asyncio.run_coroutine_threadsafe(make_and_start(), self.loop).result(START_TIMEOUT_S)
        except Exception as e:
            self.stop()
            raise BrokerError("amqtt broker did not start on port %d: %s" % (self.port, e))
        return self

    def alive(self):
        return self.thread is not None and self.thread.is_alive()

    def stop(self):
        if self.loop is None:
            return
        if self.broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self.broker.shutdown(), self.loop).result(STOP_TIMEOUT_S)
            except Exception:
                pass    # stopping the loop below ends it anyway
            self.broker = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STOP_TIMEOUT_S)
        if not self.thread.is_alive():
            self.loop.close()
        self.loop = None


def start_broker(prefer="auto"):
    """Start a private broker on a free loopback port; returns it (``host``, ``port``,
    ``kind``, ``stop()``). ``prefer``: "auto" (Mosquitto when installed), "mosquitto",
    "amqtt"."""
    if prefer not in ("auto", "mosquitto", "amqtt"):
        raise ValueError("prefer must be auto, mosquitto or amqtt, got %r" % (prefer,))
    exe = find_mosquitto() if prefer != "amqtt" else None
    if prefer == "mosquitto" and exe is None:
        raise BrokerError("mosquitto not found on PATH or in /usr/sbin")
    if exe is not None:
        return MosquittoBroker(exe).start()
    return AmqttBroker().start()
