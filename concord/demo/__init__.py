"""The demo: a realistic fortnight at a sea port with customs and seven partner agencies."""
