"""Shipped judge rubrics (``<lang>/<name>.yaml``), read with importlib.resources."""
