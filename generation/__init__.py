"""Using a trained model: load a run, sample prompts, edit images, record trajectories.

Shared by scripts/ (sample, evaluate, edit), the training previews and the studio, so there is one copy
of every way of drawing images from a model. `training/` only trains.
"""
