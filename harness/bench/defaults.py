"""Defaults the ``harness bench`` parser shows, in a module that imports nothing (start-up)."""

#: Equal-width confidence bins of the expected calibration error.
DEFAULT_BINS = 10
