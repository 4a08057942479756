"""What a run is on disk, and what every user of a run needs before it can use one.

A run folder `runs/<name>/<timestamp>/` holds `checkpoints/step_XXXXXXXX/` folders (weights, training state,
the resolved config); this package writes and reads them (checkpoint.py), reads and compares their configs
(config.py), keeps the text embeddings of the run's encoder (embedding_cache.py), and chooses the device and
the precision to run on (device.py, precision.py). Training, generation, evaluation and the studio all build
on it; it imports nothing above schemas/ (../shared/STYLE.md, the import-linter contract in pyproject.toml).
"""
