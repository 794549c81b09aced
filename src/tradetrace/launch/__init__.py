"""Launch paths: how tracing starts in a program that was not changed for it.

``autostart`` (the ``TRADETRACE_*`` variables, ``tradetrace run``), ``instrumentor``
(``opentelemetry-instrument``), ``processes`` (fork and spawn workers).
"""
