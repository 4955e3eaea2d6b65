"""session-service: cash sessions and their running totals, counts, variance and reports."""
