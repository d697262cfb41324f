"""Command line of the host tools; `make` wraps each command."""
import argparse


def _parser():
    p = argparse.ArgumentParser(prog="python -m host_tools",
                                description="Dynamic OCPP EVSE panel controller: host tools")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="mpy-cross the firmware into build/<board> (the tree a board gets)")
    b.add_argument("--board", default="esp32-devkitc")
    b.add_argument("--out", default=None)
    r = sub.add_parser("run", help="the unmodified firmware under the MicroPython unix port")
    r.add_argument("--config", default=None,
                   help="config.json to start with (none: the state's, or the setup portal)")
    r.add_argument("--heap-kb", type=int, default=None)
    r.add_argument("--state", default=None, help="directory holding config.json (default: a temporary one)")
    r.add_argument("--listen", default=None, metavar="[HOST][:PORT]",
                   help="where the web server listens (default: 127.0.0.1 and web.port, or a free port)")
    for name, text in (("flash", "erase the board, write MicroPython, then deploy"),
                       ("deploy", "copy the built firmware and the configuration to a board")):
        f = sub.add_parser(name, help=text)
        f.add_argument("--port", default=None, help="the board's serial port, e.g. /dev/ttyUSB0")
        f.add_argument("--board", default="esp32-devkitc")
        f.add_argument("--config", default=None)
        f.add_argument("--dry-run", action="store_true", help="print the commands only")
        f.add_argument("--image", action="store_true",
                       help="the board runs our own image (make image): the firmware is frozen in, no lib/")
        if name == "flash":
            f.add_argument("--firmware", default=None, help="the MicroPython .bin for the board")
    from host_tools import config_tool
    config_tool.add_parser(sub)
    m = sub.add_parser("board-model", help="build the 32-bit unix port that models the board's heap")
    m.add_argument("--frozen", action="store_true",
                   help="also the binary with the firmware frozen in (boards/manifest.py)")
    i = sub.add_parser("image", help="our own ESP32 image with the firmware frozen in (needs ESP-IDF)")
    i.add_argument("--board", default="esp32-devkitc")
    i.add_argument("--dry-run", action="store_true", help="print the commands only")
    sub.add_parser("sim", add_help=False,
                   help="the whole product on this PC: firmware, broker, two simulated chargers, a house")
    return p


def main(argv):
    if argv[:1] == ["sim"]:
        from host_tools import sim    # parses its own options
        return sim.main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "build":
        from host_tools import build
        return build.main(args)
    if args.command == "run":
        from host_tools import run
        return run.main(args)
    if args.command == "flash":
        from host_tools import flash
        return flash.main_flash(args)
    if args.command == "deploy":
        from host_tools import flash
        return flash.main_deploy(args)
    if args.command == "image":
        from host_tools import image
        return image.main(args)
    if args.command == "board-model":
        from host_tools import board_model
        return board_model.main(args)
    if args.command == "config":
        from host_tools import config_tool
        return config_tool.main(args)
    return 2
