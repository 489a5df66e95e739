"""The sandbox suite's fixtures: one Docker engine per session, each confined backend in turn."""

from tests.sandboxes.conftest import backend, docker_engine

__all__ = ["backend", "docker_engine"]
