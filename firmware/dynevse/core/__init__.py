"""The calculation core: pure decisions, no I/O, no clock, no machine/network/socket/asyncio/os/time."""
