"""What the training loop uses: the run and its record, evaluation, the inputs and their caches."""
