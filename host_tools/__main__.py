"""python -m host_tools <command>: configuration, build, flash, run and simulate."""
import sys

from host_tools.cli import main

sys.exit(main(sys.argv[1:]))
