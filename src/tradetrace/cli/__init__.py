"""Command line: ``tradetrace run`` and ``tradetrace summary``."""
