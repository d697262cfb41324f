"""Command line of the host tools; `make` wraps each command."""
import argparse


def _parser():
    p = argparse.ArgumentParser(prog="python -m host_tools",
                                description="Dynamic OCPP EVSE panel controller: host tools")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="mpy-cross the firmware and microdot into build/<board>")
    b.add_argument("--board", default="esp32-devkitc")
    b.add_argument("--out", default=None)
    return p


def main(argv):
    args = _parser().parse_args(argv)
    if args.command == "build":
        from host_tools import build
        return build.main(args)
    return 2
