"""Party screening: names checked against sanctions lists and the watchlists agencies share."""
