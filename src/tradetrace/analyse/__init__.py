"""Analyse: read trace files back and answer questions about a run."""
