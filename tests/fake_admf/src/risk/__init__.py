"""Risk: the strategy risk manager's entry, exit and stop-loss/take-profit decisions."""
