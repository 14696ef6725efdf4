"""Time release analytics (the WCO Time Release Study method) from the milestones Concord records."""
