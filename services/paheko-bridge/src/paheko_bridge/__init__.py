"""paheko-bridge: every ticket and session close into Paheko exactly once, reconciled; FEC without Paheko."""
