"""Agencies, their users and the coordination config that declares them."""
