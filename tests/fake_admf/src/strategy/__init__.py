"""Strategies: signal types, the Bollinger rule and the state that runs it on bars."""
