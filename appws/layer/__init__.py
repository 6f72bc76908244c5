"""Channel-layer plumbing: event types, notify, topics, outages, capacity, the in-memory layer."""
