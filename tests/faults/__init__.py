"""Fault injection: real OTLP receivers that misbehave on demand, folders that cannot be
written, and what the stock OpenTelemetry exporters make of each (conftest.py)."""
