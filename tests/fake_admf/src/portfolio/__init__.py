"""Portfolio state: positions, orders from risk decisions, position events."""
