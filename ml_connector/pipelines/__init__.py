"""Every integration as a :class:`~ml_connector.engine.Pipeline`: its reader, its rows, its
posting task and its recovery lookup. The flows run them through ``engine.run``."""
