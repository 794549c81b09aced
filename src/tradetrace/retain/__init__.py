"""Retain: finished records wait here, bounded per container, until they are exported."""
