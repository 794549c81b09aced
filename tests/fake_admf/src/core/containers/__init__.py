"""Containers and their lifecycle."""
