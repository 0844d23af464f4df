"""Loading the teacher and the tokenizer, and building the N-layer student."""
import os
import re

import paddle
from paddlenlp.transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

from args import InputError
from kd_loss import stack_cls, teacher_layers_for
from runtime import safe_weights

WEIGHT_FILES = safe_weights.MODEL_WEIGHT_FILES  # model.safetensors, else model_state.pdparams
# Shapes the student borrows from the teacher; the pre-trained weights must have the same.
ARCHITECTURE_KEYS = ("vocab_size", "hidden_size", "num_attention_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size")


def _looks_local(path):
    return os.path.exists(path) or os.sep in path or path.startswith(".")


def check_model_dir(path, flag):
    """A local model folder must hold a config and weights; report which is missing."""
    if not os.path.isdir(path):
        raise InputError(f"{flag} {path}: no such folder")
    if not os.path.isfile(os.path.join(path, "config.json")) and \
            not os.path.isfile(os.path.join(path, "model_config.json")):
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
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
    return InputError(f"{flag} {path}: cannot load ({type(e).__name__}: {lines[0][:200]})")


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
    """cls.from_pretrained(path) with the weights read by safe_weights, never by paddle.load.

    from_pretrained keeps doing the rest: config, dtype, adding or dropping the `bert.` prefix, the
    missing-key warnings. (Not with low_cpu_mem_usage, which would drop the given state_dict.)
    """
    if _looks_local(path):
        check_model_dir(path, flag)
    try:
        state = weights_of(cls, path, flag)
        # With the weights given, from_pretrained opens no weight file (tests/test_model_security.py).
        return cls.from_pretrained(path, state_dict=state)
    except InputError:
        raise
    except Exception as e:  # hub unreachable, unknown name, weights that do not fit
        raise load_failure(e, path, flag) from e


def load_config(path, flag):
    return _from_pretrained(BertConfig, path, flag)


def load_tokenizer(path, flag):
    vocab = os.path.join(path, "vocab.txt")
    if _looks_local(path) and not os.path.isfile(vocab):
        raise InputError(f"{flag} {path}: no vocab.txt in the folder")
    if _looks_local(path) and os.path.getsize(vocab) == 0:
        raise InputError(f"{flag} {path}: vocab.txt is empty")
    return _from_pretrained(BertTokenizer, path, flag, needs_weights=False)


def teacher_needed(args):
    """KD and PKD distil from the teacher; --student_init teacher copies its layers. Plain FT has no use for it."""
    return bool(args.teacher_finetuned_model_path) and (args.mode != "ft" or args.student_init == "teacher")


def load_run_tokenizer(args):
    """The teacher's own vocabulary when it ships one (its ids are what the teacher was trained on),
    else the pre-trained model's."""
    teacher_path = args.teacher_finetuned_model_path
    if teacher_needed(args) and os.path.isfile(os.path.join(teacher_path, "vocab.txt")):
        return load_tokenizer(teacher_path, "--teacher_finetuned_model_path")
    return load_tokenizer(args.model_name_or_path, "--model_name_or_path")


def check_model_limits(args, tokenizer):
    """--max_seq_length and the vocabulary against the tables of every model the run uses, read from their
    config.json before anything is loaded or cached: past them, training would crash at the first long
    example or rare token, minutes later."""
    owners = [(args.model_name_or_path, "--model_name_or_path")] if args.student_init == "pretrained" else []
    if teacher_needed(args):
        owners.append((args.teacher_finetuned_model_path, "--teacher_finetuned_model_path"))
    for path, flag in owners:
        config = load_config(path, flag)
        if args.max_seq_length > config.max_position_embeddings:
            raise InputError(f"--max_seq_length {args.max_seq_length} is larger than the position table of {flag} "
                             f"{path} (max_position_embeddings {config.max_position_embeddings})")
        if len(tokenizer) > config.vocab_size:
            raise InputError(f"the vocabulary has {len(tokenizer)} tokens but {flag} {path} has only "
                             f"{config.vocab_size} word embeddings (vocab_size): vocab.txt is not this model's")


def load_classifier(path, flag):
    return load_model(BertForSequenceClassification, path, flag)


def load_teacher(path, num_classes):
    """The fine-tuned teacher, frozen: eval mode (no dropout) and no gradients."""
    teacher = load_classifier(path, "--teacher_finetuned_model_path")
    if teacher.num_labels != num_classes:
        raise InputError(f"--teacher_finetuned_model_path {path}: teacher has {teacher.num_labels} classes, "
                         f"the task has {num_classes}")
    teacher.eval()
    for p in teacher.parameters():
        p.stop_gradient = True
    return teacher


def check_same_architecture(config, reference, what, reference_what):
    for key in ARCHITECTURE_KEYS:
        if getattr(config, key) != getattr(reference, key):
            raise InputError(f"{what} has {key}={getattr(config, key)} but {reference_what} has "
                             f"{getattr(reference, key)}: they must be the same architecture")


def student_config(base_config, num_layers, num_classes):
    """The base architecture (teacher's, or the pre-trained model's) with N layers and the task's classes."""
    if num_layers > base_config.num_hidden_layers:
        raise InputError(f"--num_layers_of_student_model {num_layers} is deeper than the "
                         f"{base_config.num_hidden_layers}-layer model it is built from")
    config = BertConfig(**base_config.to_dict())
    config.num_hidden_layers = num_layers
    config.num_labels = num_classes
    return config


def bottom_layers_state(bert_state, num_layers):
    """Embeddings, encoder layers 0..N-1 and pooler of a BertModel state dict; never a classifier."""
    keep = {}
    for name, value in bert_state.items():
        if name.startswith("encoder.layers."):
            if int(name.split(".")[2]) >= num_layers:
                continue
        elif not name.startswith(("embeddings.", "pooler.")):
            continue
        keep[name] = value
    return keep


def build_student(config, source_bert):
    """A fresh BertForSequenceClassification whose encoder starts from `source_bert`'s bottom layers.

    source_bert: a BertModel (the pre-trained one, or the teacher's `.bert`). The classifier
    keeps its fresh initialisation.
    """
    student = BertForSequenceClassification(config)
    state = bottom_layers_state(source_bert.state_dict(), config.num_hidden_layers)
    missing, unexpected = student.bert.set_state_dict(state)
    if missing or unexpected:
        raise InputError(f"student init: weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return student


def load_pretrained_bert(path):
    return load_model(BertModel, path, "--model_name_or_path")


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
        source = teacher.bert
    else:
        source = load_pretrained_bert(args.model_name_or_path)
        if teacher is not None:
            check_same_architecture(source.config, teacher.bert.config,
                                    f"--model_name_or_path {args.model_name_or_path}",
                                    f"--teacher_finetuned_model_path {teacher_path}")
    config = student_config(source.config, args.num_layers_of_student_model, num_classes)
    if teacher is not None and config.num_hidden_layers > teacher.bert.config.num_hidden_layers:
        raise InputError(f"--num_layers_of_student_model {config.num_hidden_layers} is deeper than the "
                         f"{teacher.bert.config.num_hidden_layers}-layer teacher")
    student = build_student(config, source)
    if args.mode == "ft":
        return None, student, []
    layers = []
    if args.mode == "pkd":
        layers = teacher_layers_for(config.num_hidden_layers, teacher.bert.config.num_hidden_layers, args.strategy)
    return teacher, student, layers
