"""Orders, fills and the synchronous execution engine."""
