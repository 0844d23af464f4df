"""Seeds: one for the run, and one per checkpoint so that a resumed run draws the same dropout masks."""
import random

import numpy as np
import paddle


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def reseed(seed, step):
    """Dropout RNG derived from (seed, step) at every checkpoint: a resumed run draws the same masks."""
    paddle.seed((seed * 1_000_003 + step) % (2 ** 31))
