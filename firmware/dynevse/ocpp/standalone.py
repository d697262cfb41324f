"""Run the OCPP central system on its own, on either runtime.

    micropython -m dynevse.ocpp.standalone HOST PORT CONFIG.json [--control] [--quiet]
    python -m dynevse.ocpp.standalone HOST PORT CONFIG.json [--control] [--quiet]

The server is the board's own HTTP front (``dynevse.web.front``), so tests exercise the
path the app serves chargers on. CONFIG.json holds ``{"ocpp": {...settings...},
"chargers": [{"id": ..., ...}, ...]}``.
Each charger's log lines are printed unless ``--quiet``. ``--control`` adds an HTTP API
without authentication, for tests and bench work only:

- ``GET /api/ocpp``: the central system's summary (chargers, unknown ids, counters, heap)
- ``GET /api/ocpp/<id>``: one charger in detail (readings, transaction, log...)
- ``POST /api/ocpp/<id>/<command>`` with a JSON list of arguments: want_limit and
  clear_and_resend (what the controller calls: they return at once, the session's
  sender does the rest), set_limit (want_limit, then wait for the charger's answer),
  clear_profiles, remote_start, remote_stop, reset, trigger; answers {"result": ...}
"""
import asyncio
import gc
import json
import sys

from dynevse import aio
from dynevse.ocpp.central import CentralSystem
from dynevse.web.front import Front, answer

COMMANDS = ("want_limit", "clear_and_resend", "set_limit", "clear_profiles", "remote_start", "remote_stop",
            "reset", "trigger")
_BODY_MAX = 1024


def heap_used():
    """Bytes of heap in use after a collection (MicroPython), else None."""
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else None


async def _reply(writer, status, doc):
    # the length in bytes: a charger's log may hold text beyond ASCII (U+FFFD for what it sent broken)
    body = json.dumps(doc).encode()
    writer.write(("HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                  "Connection: close\r\n\r\n" % (status, len(body))).encode())
    writer.write(body)
    await aio.wait_for(writer.drain(), 10)


def control_pages(central):
    """The unauthenticated test API described in the module docstring, as the HTTP
    front's page handler."""

    async def pages(method, path, headers, body, reader, writer):
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "ocpp"] or len(parts) > 4:
            await answer(writer, 404, "not found\n")
            return
        if len(parts) == 2 and method == "GET":
            # the heap first: the summary is made by a module imported for it (and forgotten)
            used = heap_used()
            s = central.status()
            s["heap_used"] = used
            await _reply(writer, 200, s)
            return
        session = central.charger(parts[2])
        if session is None:
            await _reply(writer, 404, {"error": "unknown charger"})
        elif len(parts) == 3 and method == "GET":
            await _reply(writer, 200, session.snapshot(central.clock.monotonic_ms()))
        elif len(parts) == 4 and method == "POST" and parts[3] in COMMANDS:
            try:
                n = int(headers.get("content-length", "0"))
            except ValueError:
                n = -1
            args = None
            if 0 <= n <= _BODY_MAX:
                while len(body) < n:
                    more = await aio.wait_for(reader.read(n - len(body)), 10)
                    if not more:
                        break
                    body += more
                try:
                    args = json.loads(body or b"[]")
                except ValueError:
                    args = None
            if type(args) is not list:
                await _reply(writer, 400, {"error": "the body must be a JSON list of arguments"})
                return
            try:
                result = getattr(session, parts[3])(*args)
                if parts[3] not in COMMANDS[:2]:
                    result = await result
            except (ValueError, TypeError) as e:
                await _reply(writer, 400, {"error": str(e)})
                return
            await _reply(writer, 200, {"result": result})
        else:
            await _reply(writer, 404, {"error": "unknown charger or command"})

    return pages


def main(argv, clock=None):
    """``clock``: the central system's (``clock.SystemClock`` when None)."""
    if len(argv) < 4:
        print("usage: standalone.py HOST PORT CONFIG.json [--control] [--quiet]")
        return 2
    host = argv[1]
    port = int(argv[2])
    with open(argv[3]) as f:
        cfg = json.load(f)

    def print_line(cp_id, line):
        print("ocpp %s: %s" % (cp_id, line))

    central = CentralSystem(cfg.get("ocpp"), cfg.get("chargers") or [], clock,
                            None if "--quiet" in argv else print_line)
    front = Front(central, control_pages(central) if "--control" in argv else None)
    print("ocpp: listening on %s:%d, chargers %s" % (host, port, ", ".join(central.ids)))
    asyncio.run(front.serve(host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
