"""Coordinator, sequencer and topology builder."""
