"""notifier's routers."""
