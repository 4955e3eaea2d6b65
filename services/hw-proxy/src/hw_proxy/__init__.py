"""hw-proxy: runs on each till; printer, drawer, card terminal, offline store and the config cache."""
