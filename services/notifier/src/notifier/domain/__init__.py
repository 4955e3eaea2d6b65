"""notifier's pure domain; no I/O, no clock."""
