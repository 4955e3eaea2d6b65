"""session-service's HTTP edge."""
