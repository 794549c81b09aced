"""Market data: bars and the handler that publishes them."""
