"""Enforcement records: incidents and seizures, response teams and joint operations, risk information notices."""
