import pytest

from tests.studio.tiny_run import train_tiny_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder with checkpoints step 1 and step 2 of a tiny 8x8 model."""
    return train_tiny_run(tmp_path_factory.mktemp("studio_run"), tmp_path_factory.mktemp("studio_cache"))
