"""Performance benchmark of the gateway (`python -m tests.bench`); not part of the test suite.

See README.md in this folder. No module here is named `test_*.py`, so pytest never collects it.
"""
