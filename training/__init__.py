"""The training machinery around the maths: configs to objects, data stream, EMA, checkpoints, logging,
sampling from prompts, distributed setup. train.py strings these together."""
