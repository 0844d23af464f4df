"""The teacher's pass over a large set as an exported program run by paddle.inference: its logits and the
[CLS] states of the matched layers, for the teacher cache (runtime/teacher_cache.py builds with any forward).

    forward = exported_forward(teacher, layers, workdir)   # batch -> (logits, [CLS] states or None)

The program is the teacher's own forward, traced once with dynamic batch and sequence shapes (as
deploy/inference.py exports a student); padding is recognised by the model's pad_token_id, as there.
"""
import os

import paddle
from paddle.static import InputSpec

from deploy.inference import PaddlePredictor
from runtime import cpu_env


class TeacherOutputs(paddle.nn.Layer):
    """The teacher's logits and the [CLS] states of `layers` (1-based encoder layers), as one program's outputs."""

    def __init__(self, teacher, layers):
        super().__init__()
        self.teacher, self.layers = teacher, list(layers)

    def forward(self, input_ids, token_type_ids):
        out = self.teacher(input_ids, token_type_ids=token_type_ids, output_hidden_states=True, return_dict=True)
        if not self.layers:
            return out.logits
        return out.logits, paddle.stack([out.hidden_states[i][:, 0] for i in self.layers], axis=1)


def export(teacher, layers, out_dir):
    """Write the teacher's program (inference.json or .pdmodel, inference.pdiparams) into OUT_DIR."""
    teacher.eval()
    spec = [InputSpec([None, None], "int64", "input_ids"), InputSpec([None, None], "int64", "token_type_ids")]
    static = paddle.jit.to_static(TeacherOutputs(teacher, layers), input_spec=spec, full_graph=True)
    paddle.jit.save(static, os.path.join(out_dir, "inference"))


def exported_forward(teacher, layers, workdir, device="cpu", threads=None):
    """batch -> (logits tensor [b, classes], [CLS] states tensor [b, pairs, hidden] or None), by paddle.inference.
    threads: by default this process's own (cpu_env.threads), so the processes of one machine do not oversubscribe it."""
    export(teacher, layers, workdir)
    predictor = PaddlePredictor(workdir, device, threads or cpu_env.threads())

    def forward(batch):
        ids, types = (batch[k].numpy() if hasattr(batch[k], "numpy") else batch[k]
                      for k in ("input_ids", "token_type_ids"))
        outputs = [paddle.to_tensor(x) for x in predictor.outputs(ids, types)]
        return outputs[0], (outputs[1] if layers else None)

    return forward
