"""The objects the training loop works with, built once by run_patient_kd.train_in_output_dir."""
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from runtime.distributed import World


@dataclass
class Run:
    """What the loop works with, built once before the first step."""
    args: Any
    task: Any
    world: World
    student: Any                       # the model that is evaluated and saved
    trained: Any                       # what the optimizer and checkpoints hold: the student, or it and its projection
    model: Any                         # `trained`, wrapped in DataParallel when several processes train
    tokenizer: Any
    teacher_outputs: Optional[Callable]  # batch -> (teacher logits, [CLS] states); None for FT
    num_pairs: int                     # PKD layer pairs
    loader: Any
    dev_loaders: dict
    optimizer: Any
    scheduler: Any
    num_epochs: int
    scaler: Any = None                 # float16 loss scaling (--use_amp)
    scalars: Any = None                # VisualDL (--logdir)
    tic: float = field(default_factory=time.time)  # start of the current logging window
