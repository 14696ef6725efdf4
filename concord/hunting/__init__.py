"""Hunting: what incidents and notices point at (indicators), matched against stored and new declarations."""
