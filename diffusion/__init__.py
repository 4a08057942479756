"""The maths of DDPM: schedules, forward process and losses, samplers, guidance. No I/O, no Hydra."""
