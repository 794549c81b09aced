"""The shared model, below every stage: what flows through the pipeline and what it
becomes on the wire.

- ``record``: the record (a plain list made on the publish path) and its slot constants;
- ``events``: the names of what tradetrace reads from a framework's event (its type,
  container, payload, ids), and the event adapter plug-in point;
- ``otlp_json``: the OTLP JSON wire format, written by export and read by analyse.

Every stage may import from here; nothing here imports a stage.
"""
