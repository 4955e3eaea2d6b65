"""session-service's entrypoints: HTTP routes and Kafka consumers."""
