"""Word lists and tables for case-history fuzzing (package data, read with importlib.resources)."""
