"""notifier's HTTP edge."""
