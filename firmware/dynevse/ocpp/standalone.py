"""Run the OCPP central system on its own, on either runtime.

    micropython -m dynevse.ocpp.standalone HOST PORT CONFIG.json [--control] [--quiet]
    python -m dynevse.ocpp.standalone HOST PORT CONFIG.json [--control] [--quiet]

CONFIG.json holds ``{"ocpp": {...settings...}, "chargers": [{"id": ..., ...}, ...]}``.
Each charger's log lines are printed unless ``--quiet``. ``--control`` adds an HTTP API
without authentication, for tests and bench work only:

- ``GET /api/ocpp``: the central system's summary (chargers, unknown ids, counters, heap)
- ``GET /api/ocpp/<id>``: one charger in detail (readings, transaction, log...)
- ``POST /api/ocpp/<id>/<command>`` with a JSON list of arguments: set_limit,
  clear_profiles, remote_start, remote_stop, reset, trigger; answers {"result": ...}
"""
import asyncio
import gc
import json
import sys

from dynevse.ocpp.central import CentralSystem
from dynevse.ocpp.server import make_app

COMMANDS = ("set_limit", "clear_profiles", "remote_start", "remote_stop", "reset", "trigger")


def heap_used():
    """Bytes of heap in use after a collection (MicroPython), else None."""
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else None


def add_control_routes(app, central):
    """The unauthenticated test API described in the module docstring."""

    async def status(request):
        # the heap first: the summary is made by a module imported for it (and forgotten)
        used = heap_used()
        s = central.status()
        s["heap_used"] = used
        return s

    async def charger(request, cp_id):
        session = central.charger(cp_id)
        if session is None:
            return {"error": "unknown charger"}, 404
        return session.snapshot(central.clock.monotonic_ms())

    async def command(request, cp_id, name):
        session = central.charger(cp_id)
        if session is None or name not in COMMANDS:
            return {"error": "unknown charger or command"}, 404
        try:
            args = json.loads(request.body or b"[]")
        except ValueError:
            args = None
        if type(args) is not list:
            return {"error": "the body must be a JSON list of arguments"}, 400
        try:
            result = await getattr(session, name)(*args)
        except (ValueError, TypeError) as e:
            return {"error": str(e)}, 400
        return {"result": result}

    app.route("/api/ocpp")(status)
    app.route("/api/ocpp/<cp_id>")(charger)
    app.route("/api/ocpp/<cp_id>/<name>", methods=["POST"])(command)
    return app


def main(argv):
    if len(argv) < 4:
        print("usage: standalone.py HOST PORT CONFIG.json [--control] [--quiet]")
        return 2
    host = argv[1]
    port = int(argv[2])
    with open(argv[3]) as f:
        cfg = json.load(f)

    def print_line(cp_id, line):
        print("ocpp %s: %s" % (cp_id, line))

    central = CentralSystem(cfg.get("ocpp"), cfg.get("chargers") or [],
                            log_sink=None if "--quiet" in argv else print_line)
    app = make_app(central)
    if "--control" in argv:
        add_control_routes(app, central)
    print("ocpp: listening on %s:%d, chargers %s" % (host, port, ", ".join(central.ids)))
    asyncio.run(app.start_server(host=host, port=port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
