"""Start the standalone OCPP server with its control API, on CPython or MicroPython.

    micropython tests/ocpp/serve.py HOST PORT CONFIG.json
    python tests/ocpp/serve.py HOST PORT CONFIG.json

The runtime's module path must reach ``dynevse`` and ``microdot`` (tests/ocpp/ocpp_peer.py
sets it up). Log lines go to stdout.
"""
import sys

from dynevse.ocpp.standalone import main

sys.exit(main(sys.argv + ["--control"]))
