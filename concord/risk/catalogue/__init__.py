"""The risk catalogue as the step uses it: the config's profiles, officer-written CEL rules, watchlist matching."""
