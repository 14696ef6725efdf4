"""The web console: server-rendered pages over the same queries, handlers and policy decision point as the API."""
