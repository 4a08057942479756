"""Evaluation: reading generated images back and scoring them."""
