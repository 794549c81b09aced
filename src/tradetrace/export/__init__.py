"""Export: records become spans (off the hot path) and go to files, OTLP or memory."""
