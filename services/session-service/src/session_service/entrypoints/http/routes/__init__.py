"""session-service's routers."""
