"""The synchronous (backtest) execution engine."""
