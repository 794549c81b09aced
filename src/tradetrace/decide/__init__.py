"""Decide: which events of which container become spans (levels, overrides, sampler)."""
