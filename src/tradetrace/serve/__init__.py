"""``tradetrace serve``: a trade-first trace viewer over the run index, in a browser.

A small standard-library WSGI app (``app.py``, served by ``server.py``) renders HTML on
the server from one :class:`~tradetrace.query.TraceQuery` (``data.py``), refreshed when
trace files change. Pages, one module per subject: runs and compare (``runs_pages.py``),
a run's trades (``trades_page.py``), one trade, a span and an event's chain
(``trade_pages.py``, the waterfall in ``waterfall.py``), why no trade and latency
(``why_pages.py``, ``latency_page.py``). Everything from traces is escaped by
``html.py``; nothing is fetched from the network and no file but plotly.js (from the
installed package) is served.
"""
