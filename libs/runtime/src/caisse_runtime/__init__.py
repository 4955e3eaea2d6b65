"""The messaging and serving runtime every central service shares: settings, telemetry, outbox, inbox, consumers, HTTP."""
