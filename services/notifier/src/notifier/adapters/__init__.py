"""notifier's adapters."""
