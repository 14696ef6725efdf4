"""The shared risk engine: lanes within a budget, officer rules, watchlists and a learned model."""
