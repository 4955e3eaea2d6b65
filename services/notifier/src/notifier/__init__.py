"""notifier: pushes configuration changes to the tills of the hierarchy they concern."""
