"""Evaluation after training: the pinned evaluator, metric settings, and the runner."""
