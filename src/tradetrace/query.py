"""Post-hoc analysis of trace files: ``TraceQuery`` (see ``tradetrace.analyse.query``)."""

from .analyse.query import *  # noqa: F403
from .analyse.query import __all__  # noqa: F401
