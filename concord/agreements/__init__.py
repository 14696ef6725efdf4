"""Sharing agreements between agencies, access requests (hit/no-hit) and break-glass access."""
