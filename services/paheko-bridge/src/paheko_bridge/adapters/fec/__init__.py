"""paheko-bridge's FEC journal: entries kept in PostgreSQL, written to one file per company and fiscal year."""
