"""Loading the teacher and the tokenizer, and building the N-layer student, for each encoder family
(model_folders/encoders.py: BERT, ERNIE, RoBERTa; the family is the checkpoint's own, from its config.json)."""
import copy
import json
import os
import re

import paddle
from paddlenlp.transformers import AutoTokenizer, BertTokenizer

from errors import InputError
from kd_loss import stack_cls, teacher_layers_for
from model_folders import config_file, encoders, safe_weights
from model_folders.encoders import base_model
from runtime import checkpoint

WEIGHT_FILES = safe_weights.MODEL_WEIGHT_FILES  # model.safetensors, else model_state.pdparams
# Shapes the student borrows from the teacher; the pre-trained weights must have the same.
ARCHITECTURE_KEYS = ("vocab_size", "hidden_size", "num_attention_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size")  # and the family's (encoders.Family)


def _looks_local(path):
    """A folder, not a hub name: it exists, or is written as a path. `org/name` is a name on PaddleNLP's
    hub (hfl/roberta-wwm-ext), so one slash alone does not make a path."""
    return os.path.exists(path) or path.startswith((".", "/", "~")) or path.count("/") >= 2


def check_model_dir(path, flag):
    """A local model folder must hold a config and weights; report which is missing."""
    if not os.path.isdir(path):
        raise InputError(f"{flag} {path}: no such folder")
    if config_file(path) is None:
        raise InputError(f"{flag} {path}: no config.json in the folder")
    if not any(os.path.isfile(os.path.join(path, f)) for f in WEIGHT_FILES):
        raise InputError(f"{flag} {path}: no model weights ({' or '.join(WEIGHT_FILES)}) in the folder")
    check_not_sharded(path, flag)


def check_not_sharded(path, flag):
    """Refuse a weight index (model.safetensors.index.json, ...): PaddleNLP prefers it to every single file
    and unpickles each shard it names that is not a .safetensors file, so it could bring a pickle back in.
    Models this size are never sharded."""
    index = sorted(name for name in os.listdir(path) if name.endswith(".index.json"))
    if index:
        raise InputError(f"{flag} {path}: {index[0]}: sharded weights are not supported; "
                         f"put all weights in one {safe_weights.SAFETENSORS}")


# How PaddleNLP reports a weight whose shape differs from the one config.json implies.
SHAPE_MISMATCH = re.compile(r"Skip loading for (\S+)\. \S+ receives a shape (\[[\d, ]*\]), "
                            r"but the expected shape is (\[[\d, ]*\])")


def load_failure(e, path, flag):
    """One line for a failed from_pretrained: the first mismatched weight, else the error's telling line."""
    mismatch = SHAPE_MISMATCH.search(str(e))
    if mismatch:
        name, got, expected = mismatch.groups()
        return InputError(f"{flag} {path}: config.json and the weights disagree: {name} is {got} in the weights "
                          f"but {expected} by config.json")
    return encoders.cannot_load(e, f"{flag} {path}")


def _from_pretrained(cls, path, flag, needs_weights=True):
    if needs_weights and _looks_local(path):
        check_model_dir(path, flag)
    try:
        return cls.from_pretrained(path)
    except InputError:
        raise
    except Exception as e:  # hub unreachable, unknown name
        raise load_failure(e, path, flag) from e


def read_weights(file, path, flag):
    """The arrays of a weight file, read without running code from it; a file that tries is refused."""
    try:
        return safe_weights.read_weights(file)
    except (safe_weights.UnsafePickleError, safe_weights.WeightsFormatError) as e:
        raise InputError(f"{flag} {path}: {safe_weights.refusal(e, file)}") from e


def weights_of(cls, path, flag):
    """The arrays of a local folder's weight file, or of a hub model's (downloaded first, as from_pretrained
    would: PaddleNLP resolves the name)."""
    if _looks_local(path):
        return read_weights(safe_weights.weights_file(path), path, flag)
    file, _, _, sharded = cls._resolve_model_file_path(path)
    if sharded or not str(file).endswith((".safetensors", ".pdparams")):
        raise InputError(f"{flag} {path}: the hub has {os.path.basename(str(file))}, not one "
                         f"{' or '.join(WEIGHT_FILES)}: not supported")
    return read_weights(str(file), path, flag)


def load_model(cls, path, flag):
    """cls.from_pretrained(path) with the weights read by safe_weights, never by paddle.load, and refused
    (naming the first missing weight) unless they fill the whole encoder and, for a classifier, its head:
    from_pretrained would start the missing ones at random with only a warning.

    from_pretrained keeps doing the rest: config, dtype, adding or dropping the `bert.` (`ernie.`, ...)
    prefix. (Not with low_cpu_mem_usage, which would drop the given state_dict.)
    """
    if _looks_local(path):
        check_model_dir(path, flag)
    try:
        state = weights_of(cls, path, flag)
        encoders.check_covers(cls, cls.config_class.from_pretrained(path), state, f"{flag} {path}")
        # With the weights given, from_pretrained opens no weight file (tests/test_model_security.py).
        return cls.from_pretrained(path, state_dict=state)
    except InputError:
        raise
    except Exception as e:  # hub unreachable, unknown name, weights that do not fit
        raise load_failure(e, path, flag) from e


def family_of(path, flag):
    """The encoders.Family of the model at PATH (a folder's config.json, or a hub name's config)."""
    if _looks_local(path):
        check_model_dir(path, flag)
        return encoders.family_of_folder(path, f"{flag} {path}")
    return encoders.family_of_hub_model(path, f"{flag} {path}")


def load_config(path, flag):
    return _from_pretrained(family_of(path, flag).config, path, flag)


TOKENIZER_CONFIG = "tokenizer_config.json"


def names_tokenizer_class(path):
    """True when the folder's tokenizer_config.json names its class (save_pretrained writes it): only then
    can AutoTokenizer choose, otherwise it guesses from the folder's name."""
    file = os.path.join(path, TOKENIZER_CONFIG)
    try:
        with open(file, encoding="utf-8") as f:
            return bool(json.load(f).get("tokenizer_class"))
    except (OSError, ValueError, AttributeError):
        return False


def load_tokenizer(path, flag):
    """The tokenizer tokenizer_config.json names (BertTokenizer, ErnieTokenizer, RobertaBPETokenizer, ...)
    through AutoTokenizer; a folder with only a vocab.txt gets BertTokenizer, as always."""
    if not _looks_local(path):
        return _from_pretrained(AutoTokenizer, path, flag, needs_weights=False)
    vocab = os.path.join(path, "vocab.txt")
    if os.path.isfile(vocab) and os.path.getsize(vocab) == 0:
        raise InputError(f"{flag} {path}: vocab.txt is empty")
    if names_tokenizer_class(path):
        return _from_pretrained(AutoTokenizer, path, flag, needs_weights=False)
    if not os.path.isfile(vocab):
        raise InputError(f"{flag} {path}: no vocab.txt or {TOKENIZER_CONFIG} naming the tokenizer in the folder")
    return _from_pretrained(BertTokenizer, path, flag, needs_weights=False)


def has_tokenizer(path):
    return names_tokenizer_class(path) or os.path.isfile(os.path.join(path, "vocab.txt"))


def teacher_needed(args):
    """KD and PKD distil from the teacher; --student_init teacher copies its layers. Plain FT has no use for it."""
    return bool(args.teacher_finetuned_model_path) and (args.mode != "ft" or args.student_init == "teacher")


def student_source(args):
    """(path, flag) of the pre-trained model the student is built from: --student_model_name_or_path when
    given (--model_name_or_path is then not used), else --model_name_or_path."""
    if args.student_model_name_or_path:
        return args.student_model_name_or_path, "--student_model_name_or_path"
    return args.model_name_or_path, "--model_name_or_path"


def load_run_tokenizer(args):
    """The teacher's own vocabulary when it ships one (its ids are what the teacher was trained on),
    else the pre-trained model's the student is built from."""
    teacher_path = args.teacher_finetuned_model_path
    if teacher_needed(args) and has_tokenizer(teacher_path):
        return load_tokenizer(teacher_path, "--teacher_finetuned_model_path")
    return load_tokenizer(*student_source(args))


def check_model_limits(args, tokenizer):
    """--max_seq_length and the vocabulary against the tables of every model the run uses, read from their
    config.json before anything is loaded or cached: past them, training would crash at the first long
    example or rare token, minutes later."""
    owners = [student_source(args)] if args.student_init == "pretrained" else []
    if teacher_needed(args):
        owners.append((args.teacher_finetuned_model_path, "--teacher_finetuned_model_path"))
    configs = [load_config(path, flag) for path, flag in owners]
    check_same_family(owners, configs)
    for (path, flag), config in zip(owners, configs):
        if args.max_seq_length > encoders.max_positions(config):
            raise InputError(f"--max_seq_length {args.max_seq_length} is larger than the position table of {flag} "
                             f"{path} ({encoders.describe_positions(config)})")
        if len(tokenizer) > config.vocab_size:
            raise InputError(f"the vocabulary has {len(tokenizer)} tokens but {flag} {path} has only "
                             f"{config.vocab_size} word embeddings (vocab_size): vocab.txt is not this model's")


def check_student_vocabulary(args, tokenizer):
    """--student_model_name_or_path must read the run's token ids as the teacher does: the same vocabulary, token
    by token (ERNIE 3.0 Mini, Micro and Nano share ERNIE 3.0 Base's). InputError naming the first difference."""
    path = args.student_model_name_or_path
    if not path:
        return
    theirs = load_tokenizer(path, "--student_model_name_or_path").get_vocab()
    ours = tokenizer.get_vocab()
    by_id = [{i: t for t, i in vocab.items()} for vocab in (ours, theirs)]
    for i in range(max(len(by_id[0]), len(by_id[1]))):
        a, b = by_id[0].get(i), by_id[1].get(i)
        if a != b:
            raise InputError(f"--student_model_name_or_path {path}: its vocabulary differs from the teacher's at id {i} "
                             f"({b!r} where the teacher has {a!r}); the student must share the teacher's vocabulary")


def family_mismatch(what, config, reference_what, reference):
    return InputError(f"{what} is model type '{config.model_type}' but {reference_what} is "
                      f"'{reference.model_type}': teacher and student must be the same kind of model")


def check_same_family(owners, configs):
    """The student is built from the same kind of model as the teacher (its layers, its [CLS] states)."""
    for (path, flag), config in zip(owners[1:], configs[1:]):
        if config.model_type != configs[0].model_type:
            raise family_mismatch(f"{owners[0][1]} {owners[0][0]}", configs[0], f"{flag} {path}", config)


def load_classifier(path, flag):
    """The classifier (or regressor) of the checkpoint at PATH, of its own family."""
    return load_model(family_of(path, flag).classifier, path, flag)


def depth(model):
    """Encoder layers of a loaded model."""
    return base_model(model).config.num_hidden_layers


def check_teacher_labels(path, labels):
    """A teacher trained on the same classes in another order would teach the student swapped classes without
    any error: compare the label strings it was saved with (task.json) to the task's."""
    info = checkpoint.read_task_info(path)
    if info is not None and info.get("labels") and list(info["labels"]) != list(labels):
        raise InputError(f"--teacher_finetuned_model_path {path}: the teacher's classes are {info['labels']}, "
                         f"the task's {list(labels)} (same names in the same order needed; see --labels)")


def load_teacher(path, num_classes):
    """The fine-tuned teacher, frozen: eval mode (no dropout) and no gradients."""
    teacher = load_classifier(path, "--teacher_finetuned_model_path")
    # config.num_labels: RobertaForSequenceClassification has no num_labels attribute
    if teacher.config.num_labels != num_classes:
        raise InputError(f"--teacher_finetuned_model_path {path}: teacher has {teacher.config.num_labels} classes, "
                         f"the task has {num_classes}")
    teacher.eval()
    for p in teacher.parameters():
        p.stop_gradient = True
    return teacher


def check_same_architecture(config, reference, what, reference_what):
    if config.model_type != reference.model_type:
        raise family_mismatch(what, config, reference_what, reference)
    for key in ARCHITECTURE_KEYS + encoders.family_of_config(config, what).architecture_keys:
        if getattr(config, key) != getattr(reference, key):
            raise InputError(f"{what} has {key}={getattr(config, key)} but {reference_what} has "
                             f"{getattr(reference, key)}: they must be the same architecture")


def student_config(base_config, num_layers, num_classes):
    """The base architecture (teacher's, or the pre-trained model's) with N layers and the task's classes."""
    if num_layers > base_config.num_hidden_layers:
        raise InputError(f"--num_layers_of_student_model {num_layers} is deeper than the "
                         f"{base_config.num_hidden_layers}-layer model it is built from")
    config = copy.deepcopy(base_config)
    config.num_hidden_layers = num_layers
    config.num_labels = num_classes
    return config


def bottom_layers_state(encoder_state, num_layers):
    """Embeddings, encoder layers 0..N-1 and pooler of an encoder's state dict; never a classifier."""
    keep = {}
    for name, value in encoder_state.items():
        if name.startswith("encoder.layers."):
            if int(name.split(".")[2]) >= num_layers:
                continue
        elif not name.startswith(("embeddings.", "pooler.")):
            continue
        keep[name] = value
    return keep


def build_student(config, source):
    """A fresh classifier of config's family whose encoder starts from `source`'s bottom layers.

    source: an encoder (the pre-trained one, or the teacher's base_model). The classifier keeps its fresh
    initialisation. RoBERTa's classifier has no pooler (its head has its own dense layer), so the source's
    pooler is copied only where the student has one.
    """
    student = encoders.family_of_config(config, "student").classifier(config)
    encoder = base_model(student)
    wanted = encoder.state_dict()
    state = bottom_layers_state(source.state_dict(), config.num_hidden_layers)
    state = {k: v for k, v in state.items() if k in wanted or not k.startswith(encoders.POOLER)}
    missing, unexpected = encoder.set_state_dict(state)
    missing = [k for k in missing if not k.startswith(encoders.POOLER)]
    if missing or unexpected:
        raise InputError(f"student init: weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return student


def load_pretrained(path):
    """The pre-trained encoder of --model_name_or_path, of its own family (no head)."""
    return load_model(family_of(path, "--model_name_or_path").model, path, "--model_name_or_path")


def count_parameters(model):
    return sum(int(p.numel()) for p in model.parameters())


@paddle.no_grad()
def teacher_forward(teacher, batch, layers):
    """Teacher logits [batch, classes] and [CLS] states of `layers` [batch, len(layers), hidden]."""
    out = teacher(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                  attention_mask=batch["attention_mask"], output_hidden_states=True, return_dict=True)
    cls = stack_cls(out.hidden_states, layers) if layers else None
    return out.logits, cls


def build_models(args, num_classes):
    """What a run needs: (frozen teacher or None, student, teacher layers matched by the PT loss).

    The teacher is loaded for KD/PKD and for --student_init teacher; fine-tuning does not keep it.
    """
    teacher_path = args.teacher_finetuned_model_path
    teacher = load_teacher(teacher_path, num_classes) if teacher_needed(args) else None
    if args.student_init == "teacher":
        source = base_model(teacher)
    elif args.student_model_name_or_path:  # another shape: its family and vocabulary were checked, not its width
        path, flag = student_source(args)
        source = load_model(family_of(path, flag).model, path, flag)
    else:
        source = load_pretrained(args.model_name_or_path)
        if teacher is not None:
            check_same_architecture(source.config, teacher.config,
                                    f"--model_name_or_path {args.model_name_or_path}",
                                    f"--teacher_finetuned_model_path {teacher_path}")
    config = student_config(source.config, args.num_layers_of_student_model or source.config.num_hidden_layers,
                            num_classes)
    if teacher is not None and config.num_hidden_layers > depth(teacher):
        raise InputError(f"--num_layers_of_student_model {config.num_hidden_layers} is deeper than the "
                         f"{depth(teacher)}-layer teacher")
    student = build_student(config, source)
    if args.mode == "ft":
        return None, student, []
    layers = []
    if args.mode == "pkd":
        layers = teacher_layers_for(config.num_hidden_layers, depth(teacher), args.strategy)
    return teacher, student, layers


def width(model):
    return base_model(model).config.hidden_size


PT_STATES = "pt_cls_states"  # the output key of a narrower student's mapped [CLS] states


class ClsProjection(paddle.nn.Layer):
    """Learned maps of a narrower student's [CLS] states to the teacher's width, one Linear per layer pair.

    One per pair rather than one shared (TinyBERT's W_h): each student layer's states live in a space of
    their own, and a shared map would have to fit all of them at once; the cost is pairs x h_s x h_t
    parameters (3 x 384 x 768 = 0.9M for ERNIE 3.0 Mini under Base). Trained with the student, kept in its
    checkpoints, never in best_model/ or an export.
    """

    def __init__(self, num_pairs, student_width, teacher_width):
        super().__init__()
        self.maps = paddle.nn.LayerList([paddle.nn.Linear(student_width, teacher_width) for _ in range(num_pairs)])

    def forward(self, cls):
        """cls: [batch, pairs, student width] -> [batch, pairs, teacher width]."""
        return paddle.stack([m(cls[:, j]) for j, m in enumerate(self.maps)], axis=1)


class StudentWithProjection(paddle.nn.Layer):
    """What trains when the student is narrower than its teacher: the student and the projection of its [CLS]
    states; checkpoints and the optimizer see both."""

    def __init__(self, student, projection):
        super().__init__()
        self.student, self.projection = student, projection

    def forward(self, *args, **kwargs):
        """The student's output; with hidden states (PT) also PT_STATES: the [CLS] states of layers 1..pairs
        mapped to the teacher's width. Mapped here, inside the forward, so that paddle.DataParallel sees the
        projection's weights used (its gradients are then all-reduced like the student's)."""
        out = self.student(*args, **kwargs)
        if kwargs.get("output_hidden_states"):
            out[PT_STATES] = self.projection(stack_cls(out.hidden_states, range(1, len(self.projection.maps) + 1)))
        return out


def pt_states(out, num_pairs):
    """The student's [CLS] states PT compares with the teacher's, [batch, pairs, teacher width], from its
    output (StudentWithProjection's mapped ones for a narrower student)."""
    return out[PT_STATES] if PT_STATES in out else stack_cls(out.hidden_states, range(1, num_pairs + 1))


def trained_model(student, teacher, layers):
    """(what trains: the student, or the student with a ClsProjection; the projection or None). A projection
    only where PT compares layers of different widths: equal widths train exactly as before."""
    if not layers or width(student) == width(teacher):
        return student, None
    projection = ClsProjection(len(layers), width(student), width(teacher))
    return StudentWithProjection(student, projection), projection
