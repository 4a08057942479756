"""Neural networks: the conditional U-Net and its parts, and the frozen text encoders."""
