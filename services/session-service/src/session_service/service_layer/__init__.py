"""session-service's use cases."""
