"""Run the unmodified firmware under the MicroPython unix port with the unix HAL.

    python -m host_tools run --config CONFIG.json [--listen [HOST][:PORT]] [--heap-kb 110] [--state DIR]

The firmware is built for the ``unix-sim`` board (the same .mpy tree a board gets) and
started as a board starts it — boot.py, then main.py — with its configuration in a state
directory (``DYNEVSE_ROOT``), as on a board's filesystem. ``start_firmware`` does the same for the simulator and the tests.

Where it listens: on a PC, 127.0.0.1 and a free high port, unless ``--listen`` or the
configuration's ``web.port`` says otherwise (a board keeps port 80 on every interface);
the unix HAL takes the address from ``DYNEVSE_LISTEN``. The URL is printed.

Stopping: the firmware runs in its own process group (a board restart, exit 4, starts it
again). SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop it and everything it started; should
this process die without cleaning up, the kernel sends the firmware SIGTERM
(``PR_SET_PDEATHSIG``, Linux), so it never outlives its runner.

The port is the 64-bit PyPI one unless ``micropython`` names another: the board model
(host_tools.board_model), with ``frozen`` the model that has the firmware frozen in, which
then runs from a tree without lib/ (nothing is imported from files).

``code_in_rom`` (a measurement, not how a board runs today): the .mpy tree is packed into a
ROMFS image that is mounted before boot.py, so the bytecode runs in place as it would from
frozen modules or a ROMFS partition. On the unix port the image itself has to sit in the
heap; it is read first, never freed, and the heap is enlarged by its size, so the rest of
the heap is the size asked for. ``Firmware.rom_bytes`` is what the image holds.
"""
import collections
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from host_tools import build

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


SOFT_RESET_EXIT = 4   # dynevse.hal.unix: the firmware asks to be started again
_ROM_LINE = "romfs: the code image holds "
# Mounts the image at /rom and imports from it only (asyncio stays the port's frozen one).
_ROM_PRELUDE = ("import gc, sys, vfs\n"
                "gc.collect()\n"
                "_a = gc.mem_alloc()\n"
                "with open(%r, 'rb') as _f:\n"
                "    _img = _f.read()\n"
                "vfs.mount(vfs.VfsRom(_img), '/rom')\n"
                "sys.path[:] = ['/rom', '.frozen']\n"
                "gc.collect()\n"
                "print('" + _ROM_LINE + "%%d bytes of heap' %% (gc.mem_alloc() - _a))\n"
                "del _a, _f\n")


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (AttributeError, OSError):       # not Linux: no parent-death signal
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child, before exec: SIGTERM when the runner's thread that started it ends."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def rom_prelude(image):
    """MicroPython source that mounts the ROMFS ``image`` at /rom, imports from it only,
    keeps it alive in ``_img`` and prints the heap it holds (the ``_ROM_LINE``)."""
    return _ROM_PRELUDE % image


class Firmware:
    """A running firmware process; ``lines`` keeps its most recent output lines.

    A soft reset of the board (the firmware exits with SOFT_RESET_EXIT) starts the
    process again, as a board restarts Python; ``restarts`` counts them.
    """

    def __init__(self, start, state_dir, own_state, echo, tree_dir=None):
        self._start = start
        self._tree_dir = tree_dir     # the run's own built tree, removed on stop
        self.proc = start()
        self.state_dir = state_dir
        self._own_state = own_state
        self.lines = collections.deque(maxlen=500)
        self._echo = echo
        self.restarts = 0
        self.memory_errors = 0     # "MemoryError" lines the firmware printed
        self.rom_bytes = 0         # heap the ROMFS image holds (code_in_rom)
        self._stopping = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while True:
            for raw in self.proc.stdout:
                line = raw.rstrip("\n")
                self.lines.append(line)
                if line.startswith(_ROM_LINE):
                    self.rom_bytes = int(line[len(_ROM_LINE):].split()[0])
                if "MemoryError" in line or "memory allocation failed" in line:
                    self.memory_errors += 1
                if self._echo:
                    print(line, flush=True)
            code = self.proc.wait()
            if code != SOFT_RESET_EXIT or self._stopping or self.restarts >= 10:
                return
            self.restarts += 1
            self.proc = self._start()

    def alive(self):
        if self.proc.poll() == SOFT_RESET_EXIT and not self._stopping:
            return self._reader.is_alive()      # restarting
        return self.proc.poll() is None

    def stop(self, timeout_s=5):
        """Stop the firmware and everything it started; returns its exit code."""
        self._stopping = True
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout_s)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self._reader.join(timeout=2)
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if self._tree_dir:
            shutil.rmtree(self._tree_dir, ignore_errors=True)
        return self.proc.returncode


def start_firmware(config, heap_kb=None, state_dir=None, echo=False, rebuild=True, code_in_rom=False,
                   listen=None, prelude="", micropython=None, frozen=False):
    """Build (unless ``rebuild`` is False), write ``config`` (a dict; None: keep the state
    directory's config.json as it is) and start the firmware. ``listen``: (host, port) its
    web server binds, instead of 127.0.0.1 and ``web.port``. ``prelude``: MicroPython
    source run before boot.py (the tests inject faults with it). ``micropython``: the port
    (default the 64-bit PyPI one; host_tools.board_model has the 32-bit one). ``frozen``:
    it has the firmware frozen in, so it runs from its own tree holding boot.py, main.py
    and the board files only, and nothing is imported from files."""
    if frozen and code_in_rom:
        raise ValueError("frozen and code_in_rom exclude each other")
    tree_dir = None
    if frozen:
        tree_dir = tempfile.mkdtemp(prefix="dynevse-tree-")
        tree = os.path.join(tree_dir, "unix-sim")
        build.build("unix-sim", tree, code=False)
    else:
        if rebuild:
            build.build("unix-sim")
        tree = os.path.join(build.ROOT, "build", "unix-sim")
    if code_in_rom:
        image = build.romfs_image(tree)
        prelude = rom_prelude(image) + prelude
        if heap_kb:
            heap_kb += (os.path.getsize(image) + 1023) // 1024 + 1   # + the image and its header
    own = state_dir is None
    if own:
        state_dir = tempfile.mkdtemp(prefix="dynevse-state-")
    state_dir = os.path.abspath(state_dir)      # the firmware runs in the build tree
    if config is not None:
        with open(os.path.join(state_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
    cmd = [micropython or MICROPYTHON]
    if heap_kb:
        cmd += ["-X", "heapsize=%dK" % heap_kb]
    # as a board does: boot.py, then main.py, in the same globals
    cmd += ["-c", prelude + "exec(open('boot.py').read()); exec(open('main.py').read())"]
    env = dict(os.environ, MICROPYPATH=".frozen" if frozen else ".frozen:lib", DYNEVSE_ROOT=state_dir)
    if listen is not None:
        env["DYNEVSE_LISTEN"] = "%s:%d" % listen

    def start():
        return subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True, preexec_fn=_die_with_parent)
    return Firmware(start, state_dir, own, echo, tree_dir)


def listen_address(option, config):
    """(host, port) for ``run``: ``--listen`` ("HOST", ":PORT" or "HOST:PORT") first, then
    the configuration's ``web.port`` on the loopback, else the loopback and a free port."""
    from host_tools.broker import free_port
    web = config.get("web") if isinstance(config, dict) else None
    port = web.get("port") if isinstance(web, dict) else None
    host = "127.0.0.1"
    if option:
        h, _, p = option.rpartition(":") if ":" in option else (option, "", "")
        host = h or host
        if p:
            if not p.isdigit() or not 0 < int(p) < 65536:
                raise ValueError("--listen: %r is not a port" % p)
            port = int(p)
    return host, port if isinstance(port, int) else free_port()


class _Stop(Exception):
    """A signal asked the run to stop."""


def _stop_on(signum, _frame):
    raise _Stop(signal.Signals(signum).name)


def main(args):
    config = None       # none: the state's config.json, or the setup portal
    try:
        if args.config is not None:
            with open(args.config) as f:
                config = json.load(f)
    except (OSError, ValueError) as e:
        print("run: can't read %s: %s" % (args.config, e), file=sys.stderr)
        return 2
    try:
        host, port = listen_address(args.listen, config)
    except ValueError as e:
        print("run: %s" % e, file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on)
    if args.state and not os.path.isdir(args.state):
        os.makedirs(args.state)
    if config is not None and args.state and os.path.exists(os.path.join(args.state, "config.json")):
        # the board's own file: commands and the web page may have changed it since
        print("run: %s/config.json is kept (the board's configuration); remove it to start from %s"
              % (args.state, args.config), file=sys.stderr)
        config = None
    fw = None
    why = "the firmware ended"
    try:
        fw = start_firmware(config, heap_kb=args.heap_kb, state_dir=args.state, echo=True, listen=(host, port))
        shown = "<this PC's address>" if host == "0.0.0.0" else host
        print("run: the firmware listens on %s:%d; chargers connect to ws://%s:%d/ocpp/<charger id>; "
              "Ctrl-C stops it" % (host, port, shown, port), flush=True)
        print("run: its web page (setup portal, or the status page once set up): http://%s:%d/"
              % (shown, port), flush=True)
        fw._reader.join()
    except build.BuildError as e:
        print("run: building the firmware failed: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        why = "stopped (Ctrl-C)"
    except _Stop as e:
        why = "stopped (%s)" % e
    finally:
        # a second signal must not cut the clean-up short
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        code = fw.stop() if fw is not None else None
    if why.startswith("stopped"):
        print("run: %s" % why, flush=True)
        return 0
    print("run: the firmware exited with %s" % code, file=sys.stderr)
    return code if code is not None and code >= 0 else 1
