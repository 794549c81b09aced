"""Fake ADMF-PC core."""
