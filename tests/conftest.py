"""The whole suite's conftest. Its presence puts tests/ on sys.path (pytest's prepend import mode),
so that helpers shared by unit and integration tests (certs.py) import by name."""
