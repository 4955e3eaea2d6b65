"""pos-api's adapters: PostgreSQL tables, repositories and unit of work; in-memory fakes in `memory.py`."""
