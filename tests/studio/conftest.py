import pytest

from tests.studio.tiny_run import train_tiny_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder with checkpoints step 1 and step 2 of a tiny 8x8 model."""
    return train_tiny_run(tmp_path_factory.mktemp("studio_run"), tmp_path_factory.mktemp("studio_cache"))


@pytest.fixture(scope="session")
def tiny_student(tiny_run, tmp_path_factory):
    """A 2-step consistency student of the tiny run (train_distill.py, 2 steps)."""
    from tests.studio.tiny_run import distill_tiny_run
    return distill_tiny_run(tiny_run, tmp_path_factory.mktemp("student_run"), tmp_path_factory.mktemp("student_cache"))
