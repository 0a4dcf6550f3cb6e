"""The gridmap HTTP API: thin FastAPI routes over ``geo``."""
