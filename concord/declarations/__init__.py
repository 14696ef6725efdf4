"""Declarations: one submission by the trader, versioned, with its timeline."""
