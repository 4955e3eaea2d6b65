"""session-service's adapters: PostgreSQL repositories and unit of work; fakes in `memory.py`."""
