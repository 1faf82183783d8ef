"""The PostgreSQL fixture lives in tests/conftest.py, shared with the flow tests."""
