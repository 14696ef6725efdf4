"""Agency tasks, officers' decisions, and the one release."""
