"""notifier's use cases."""
