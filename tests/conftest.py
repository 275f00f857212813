"""Shared pytest options and fixtures."""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files under tests/golden/ from the current output "
                          "(review the diff before committing)")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the whole session (tests/pg_helpers.py).

    Skipped, with the reason, where PostgreSQL cannot be started (a service skip)."""
    from pg_helpers import Unavailable, start_server

    try:
        server = start_server()
    except Unavailable as exc:
        pytest.skip(f"service skip: {exc}")
    try:
        yield server
    finally:
        server.stop()
