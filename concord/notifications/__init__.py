"""One notification stream: what the outbox relay cut for each audience, stored for replay and delivered live
(server-sent events, signed webhooks; NATS subjects per audience come from the relay itself)."""
