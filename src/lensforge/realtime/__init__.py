"""Live updates: the event hub (fan-out of the `events` outbox to subscribers) and the
WebSocket endpoint browsers and clients watch training through."""
