"""fake_nautilus: a stand-in for NautilusTrader's shape, for tests only (README.md)."""
