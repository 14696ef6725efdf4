"""Commands, events, the message bus, the unit of work and the transactional outbox."""
