"""Host tools (CPython): configuration, build, flash, simulation.

site_model.py also runs on the MicroPython unix port (the scenario runner uses it).
"""
