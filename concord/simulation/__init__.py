"""Simulations that drive the real hub: `concord simulate port` compares sequential and coordinated clearance."""
