"""Settings modules: ``production`` (the default), ``demo`` (embedded SQLite demo) and ``test``."""
