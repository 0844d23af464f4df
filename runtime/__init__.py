"""Infrastructure below everything: CPU settings, Paddle-version facts, file locks, caches, checkpoints, seeds, logs."""
