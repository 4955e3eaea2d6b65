"""notifier's entrypoints."""
