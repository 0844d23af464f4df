"""The run's log: console and OUTPUT_DIR/train.log (PaddleNLP's chatter kept out), and VisualDL scalars."""
import logging
import os
import sys
import time

import psutil

from paddlenlp.utils.log import logger as paddlenlp_logger

logger = logging.getLogger("pkd")
paddlenlp_logger.set_level("WARNING")  # its per-file INFO lines would drown the training log


def setup_logging(output_dir):
    """Console and OUTPUT_DIR/train.log; without output_dir (ranks > 0), warnings on the console only."""
    logger.handlers.clear()
    logger.setLevel(logging.INFO if output_dir else logging.WARNING)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    handlers = [logging.StreamHandler(sys.stdout)]
    if output_dir:
        handlers.append(logging.FileHandler(os.path.join(output_dir, "train.log")))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)


def log_startup_time():
    """Process start to the end of its first step: what the encoded-split and teacher caches save."""
    logger.info("first step done %.1f s after the process started", time.time() - psutil.Process().create_time())


class ScalarLog:
    """VisualDL scalars under `logdir` (--logdir), or nothing when logdir is None."""

    def __init__(self, logdir):
        self.writer = None
        if logdir:
            from visualdl import LogWriter  # only when asked for: VisualDL is slow to import

            self.writer = LogWriter(logdir=logdir)

    def add(self, prefix, values, step):
        for k, v in values.items() if self.writer is not None else ():
            self.writer.add_scalar(f"{prefix}/{k}", v, step)

    def close(self):
        if self.writer is not None:
            self.writer.close()
