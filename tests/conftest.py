"""Shared pytest wiring: fixtures live in tests/fixtures/, one module per real component."""

pytest_plugins = ["fixtures.simulator", "fixtures.postgres", "fixtures.aws", "fixtures.job_logging"]
