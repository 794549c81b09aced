"""Fake ADMF-PC package root (see tests/fake_admf/README.md)."""
