"""Capture: wrapt patches on the traced system that record what happens, cheaply."""
