"""Losses of Patient Knowledge Distillation and its layer mapping.

Sun, Cheng, Gan, Liu. "Patient Knowledge Distillation for BERT Model Compression",
EMNLP 2019, arXiv:1908.09355. Equation numbers below refer to that paper.

    L_PKD = (1 - alpha) * L_CE + alpha * L_DS + beta * L_PT          (eq. 4)

Every function here is pure: tensors in, tensors out, no state.
"""
import paddle
import paddle.nn.functional as F

STRATEGIES = ("skip", "last")


def teacher_layers_for(num_student_layers, num_teacher_layers, strategy):
    """Teacher layers (1-based) whose [CLS] states the student layers 1..M-1 learn, in order.

    The student's last layer is left out: the distillation loss on the logits covers it.
    skip: every k-th layer, k = teacher_layers // student_layers (12->6: [2, 4, 6, 8, 10]).
    last: the M-1 layers just below the teacher's top (12->6: [7, 8, 9, 10, 11]).
    """
    m, n = num_student_layers, num_teacher_layers
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not 1 <= m <= n:
        raise ValueError(f"a {m}-layer student cannot learn from a {n}-layer teacher")
    if strategy == "skip":
        k = n // m
        return [k * j for j in range(1, m)]
    return list(range(n - m + 1, n))


def layer_pairs(num_student_layers, num_teacher_layers, strategy):
    """[[student_layer, teacher_layer], ...] (1-based), as logged and written to results.json."""
    teacher = teacher_layers_for(num_student_layers, num_teacher_layers, strategy)
    return [[s, t] for s, t in zip(range(1, num_student_layers), teacher)]


def labelled_mean(loss_fn, outputs, targets, labelled):
    """loss_fn(outputs, targets, reduction) averaged over the batch, rows with labelled 0 counting 0.

    labelled: [batch] 1/0, or None (every row labelled: loss_fn's own mean). Dividing by the batch, not by
    the labelled rows, keeps a batch of few labelled rows from weighing as much as a fully labelled one:
    the hard loss then carries the labelled share of the data.
    """
    if labelled is None:
        return loss_fn(outputs, targets, reduction="mean")
    losses = loss_fn(outputs, targets, reduction="none").reshape([-1])
    return (losses * labelled.reshape([-1]).astype(losses.dtype)).mean()


def ce_loss(logits, labels, labelled=None):
    """Cross-entropy with the gold labels (L_CE, eq. 3).

    logits: [batch, classes] float; labels: [batch] or [batch, 1] int64; labelled: see labelled_mean.
    Reduction: mean over the batch (unlabelled rows, e.g. of a transfer set, count 0).
    """
    return labelled_mean(F.cross_entropy, logits, labels.reshape([-1]), labelled)


def kd_loss(student_logits, teacher_logits, T):
    """Distillation loss on softened predictions (L_DS, eq. 2), scaled by T^2.

    Both distributions are softened: p = softmax(logits / T) for teacher and student.
    T^2 keeps the gradient scale independent of T (Hinton et al. 2015; the authors' code).
    student_logits, teacher_logits: [batch, classes].
    Reduction: T^2 * mean over the batch of -sum_c p_t(c) * log p_s(c).
    """
    p_teacher = F.softmax(teacher_logits / T, axis=-1)
    log_p_student = F.log_softmax(student_logits / T, axis=-1)
    return (T * T) * (-(p_teacher * log_p_student).sum(axis=-1)).mean()


def mse_loss(outputs, scores, labelled=None):
    """Regression loss with the gold scores (STS-B): the L_CE of eq. 4 for a one-output model.

    outputs: [batch, 1] float; scores: [batch] or [batch, 1] float (any float dtype); labelled: see labelled_mean.
    Reduction: mean over the batch of the squared difference (unlabelled rows count 0).
    """
    return labelled_mean(F.mse_loss, outputs.reshape([-1]), scores.reshape([-1]).astype(outputs.dtype), labelled)


def mse_kd_loss(student_outputs, teacher_outputs, T=None):
    """Distillation loss of a regression task: the student matches the teacher's outputs (L_DS for STS-B).

    A single real-valued output has no distribution to soften, so the temperature does not apply
    (T is accepted and ignored, to share kd_loss's signature). This is the MSE distillation loss of
    TextBrewer's answer to regression (its issue #11); it uses the teacher's outputs, never the labels.
    student_outputs, teacher_outputs: [batch, 1]. Reduction: mean over the batch of the squared difference.
    """
    return F.mse_loss(student_outputs, teacher_outputs.astype(student_outputs.dtype), reduction="mean")


def pt_loss(student_cls, teacher_cls):
    """Patient loss on L2-normalised [CLS] states of matched layers (L_PT, eq. 1).

    student_cls, teacher_cls: [batch, pairs, hidden], pair j holding the [CLS] vector output
    by student layer j and by its teacher layer.
    Reduction: sum over pairs of the mean over batch and hidden units of the squared
    difference. This is the scale the reference README's beta values (500-800) assume;
    a per-example sum over hidden units would make the same beta `hidden` times stronger.
    """
    diff = F.normalize(student_cls, p=2, axis=-1) - F.normalize(teacher_cls, p=2, axis=-1)
    return (diff * diff).mean(axis=[0, 2]).sum()


def pkd_loss(student_logits, teacher_logits, labels, student_cls, teacher_cls, alpha, T, beta,
             hard_loss=ce_loss, soft_loss=kd_loss, labelled=None):
    """total = (1 - alpha) * CE + alpha * KD + beta * PT  (eq. 4).

    labelled: [batch] 1 for rows with a gold label, 0 for rows only the teacher labels (a transfer set,
    augmented copies); None: every row is labelled. CE sees the labelled rows only, KD and PT every row.
    student_cls, teacher_cls: [batch, pairs, h_t]; a student narrower than its teacher gives its states mapped to
    the teacher's width (a learned linear map per pair, as TextBrewer's `proj` and TinyBERT's W_h).
    hard_loss, soft_loss: the task's (ce_loss, kd_loss) for classification, (mse_loss, mse_kd_loss)
    for regression; the parts keep their names "ce" and "kd" either way.
    Terms with a zero weight are not computed (fine-tuning needs no teacher at all);
    their entries in `parts` are then None.
    Returns (total: scalar tensor, parts: {"ce", "kd", "pt"} unweighted scalar tensors).
    """
    parts = {"ce": hard_loss(student_logits, labels, labelled), "kd": None, "pt": None}
    total = (1.0 - alpha) * parts["ce"]
    if alpha > 0:
        parts["kd"] = soft_loss(student_logits, teacher_logits, T)
        total = total + alpha * parts["kd"]
    if beta > 0:
        parts["pt"] = pt_loss(student_cls, teacher_cls)
        total = total + beta * parts["pt"]
    return total, parts


def stack_cls(hidden_states, layers):
    """[CLS] vectors of the given 1-based encoder layers: [batch, len(layers), hidden].

    hidden_states: the model's `hidden_states` output, entry 0 being the embeddings,
    so entry i is the output of encoder layer i.
    """
    return paddle.stack([hidden_states[i][:, 0] for i in layers], axis=1)
