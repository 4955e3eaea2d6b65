"""Fixtures of the end-to-end tests: the test instance of the real infrastructure and fresh service stacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from caisse_stack import Infra, ensure_up
from harness import Stack


@pytest.fixture(scope="session")
def infra() -> Infra:
    """Real Kafka and PostgreSQL (the launcher's `test` instance), started if they do not run yet."""
    return ensure_up("test")


@pytest.fixture(scope="module")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    created = Stack(infra=infra, workdir=tmp_path_factory.mktemp("stack"))
    yield created
    created.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)
