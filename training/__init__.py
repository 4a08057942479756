"""The training machinery around the maths: configs to objects, data stream, EMA, checkpoints, logging,
previews, distributed setup (drawing images from a model lives in generation/). train.py strings these together."""
