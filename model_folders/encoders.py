"""The encoder families a run can use (BERT, ERNIE 1.0/2.0/3.0, RoBERTa), and what differs between them.

The family of a checkpoint is read from its own config.json (`model_type`, and `architectures` or the older
`init_class`), never guessed, and every class comes from the one table below. PaddleNLP's Auto model classes
are not used for the choice: they ignore `model_type`, match `architectures[-1]` by substring, and guess from
the folder's name when it is missing.

What the families share, and the rest of the project relies on: the task model holds its encoder under
`base_model_prefix` (`.bert`, `.ernie`, `.roberta`); the encoder's weights are named alike (`embeddings.*`,
`encoder.layers.<i>.*`, `pooler.*`); the classifier is called with input_ids, token_type_ids, attention_mask
and returns logits and hidden_states[0..layers]. ERNIE 3.0's task-type embeddings are part of
`embeddings.*` and default inside the model, so nothing passes task ids.
"""
import copy
import json
import os
from dataclasses import dataclass

from paddlenlp.transformers import (AutoConfig, BertConfig, BertForSequenceClassification, BertModel, ErnieConfig,
                                    ErnieForSequenceClassification, ErnieModel, RobertaConfig,
                                    RobertaForSequenceClassification, RobertaModel)

from errors import InputError
from model_folders import config_file


@dataclass(frozen=True)
class Family:
    """The classes of one model_type, and what else the project has to know about it."""
    name: str          # config.json's model_type
    config: type
    model: type        # the bare encoder: a pre-trained checkpoint
    classifier: type   # the encoder with a sequence classification (or regression) head
    positions_after_pad: bool = False  # position ids start at pad_token_id + 1 (fairseq RoBERTa)
    architecture_keys: tuple = ()  # config fields beyond BERT's that teacher and student must share


FAMILIES = {f.name: f for f in (
    Family("bert", BertConfig, BertModel, BertForSequenceClassification),
    Family("ernie", ErnieConfig, ErnieModel, ErnieForSequenceClassification,
           architecture_keys=("use_task_id", "task_type_vocab_size")),  # ERNIE 3.0's task-type embeddings
    Family("roberta", RobertaConfig, RobertaModel, RobertaForSequenceClassification, positions_after_pad=True,
           architecture_keys=("pad_token_id",)),
)}
SUPPORTED = ", ".join(FAMILIES)
POOLER = "pooler."  # the one encoder part a checkpoint may lack: RoBERTa's classifier has none


def unsupported(model_type, what):
    return InputError(f"{what}: model type '{model_type}' is not supported (supported: {SUPPORTED})")


def _family_of_class(class_name):
    """'ErnieForSequenceClassification' -> 'ernie': the paddlenlp.transformers sub-package defining the class
    (exact, where a name prefix would take ErnieM or ErnieGram for ERNIE); None for a class PaddleNLP lacks."""
    import paddlenlp.transformers as transformers

    parts = getattr(getattr(transformers, class_name, None), "__module__", "").split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["paddlenlp", "transformers"] else None


def _read_config_dict(path, what):
    file = config_file(path)
    if file is None:
        raise InputError(f"{what}: no config.json in the folder")
    try:
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as e:
        raise InputError(f"{what}: {os.path.basename(file)} is not valid JSON ({e})") from None


def family_of_folder(path, what):
    """The Family of the checkpoint folder PATH, from config.json; one InputError line when the type is not
    supported, or when `model_type` and `architectures` disagree (a config.json edited by hand)."""
    config = _read_config_dict(path, what)
    classes = config.get("architectures") or [config.get("init_class")]
    named = _family_of_class(classes[-1]) if classes[-1] else None
    declared = config.get("model_type") or named
    if declared is None:
        raise InputError(f"{what}: config.json names no model_type (supported: {SUPPORTED})")
    if named and named != declared:
        raise InputError(f"{what}: config.json says model_type '{declared}' but architectures {classes} "
                         f"(a {named} model): which is it?")
    if declared not in FAMILIES:
        raise unsupported(declared, what)
    return FAMILIES[declared]


def family_of_config(config, what):
    """The Family of a loaded config (BertConfig, ErnieConfig, ... or a hub model's AutoConfig)."""
    model_type = getattr(config, "model_type", None) or type(config).__name__
    if model_type not in FAMILIES:
        raise unsupported(model_type, what)
    return FAMILIES[model_type]


def family_of_hub_model(name, what):
    """The Family of a model named on PaddleNLP's hub (bert-base-uncased, ernie-3.0-base-zh, ...); PaddleNLP's
    own names need no download for this."""
    try:
        config = AutoConfig.from_pretrained(name)
    except Exception as e:  # unknown name, hub unreachable
        raise cannot_load(e, what) from e
    return family_of_config(config, what)


def cannot_load(e, what):
    """One line for a load that failed inside PaddleNLP: the error's first telling line."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
    return InputError(f"{what}: cannot load ({type(e).__name__}: {lines[0][:200]})")


def base_model(model):
    """The encoder of a task model (model.bert / .ernie / .roberta, named by base_model_prefix); a bare encoder
    is its own. (PaddleNLP's `model.base_model` silently returns the model itself when the attribute is missing.)"""
    prefix = model.base_model_prefix
    return getattr(model, prefix) if hasattr(model, prefix) else model


def max_positions(config):
    """The longest input, special tokens included, the position table takes. RoBERTa numbers positions from
    pad_token_id + 1, so roberta-base's 514 rows take 512 tokens (and Chinese RoBERTa's 512 take 511)."""
    if FAMILIES[config.model_type].positions_after_pad:
        return config.max_position_embeddings - config.pad_token_id - 1
    return config.max_position_embeddings


def describe_positions(config):
    """How max_positions came about, for the --max_seq_length error line."""
    limit = max_positions(config)
    if limit == config.max_position_embeddings:
        return f"max_position_embeddings {limit}"
    return (f"max_position_embeddings {config.max_position_embeddings}, positions starting at "
            f"pad_token_id {config.pad_token_id} + 1: {limit} tokens")


# ---- do a checkpoint's weights cover the encoder? ----

MINIATURE_SIZES = ("vocab_size", "max_position_embeddings", "type_vocab_size", "task_type_vocab_size")


def weight_names(model_class, config):
    """(encoder weights as the base model names them, head weights) of model_class(config), in the model's
    order; the head is what a task model has beside its encoder (a bare encoder has none).

    Learnt from a miniature of the model (every width 1 or 2, the layers and options kept): building the real
    one takes seconds for a base-size model, and Paddle 2.6's LazyGuard fails on ERNIE's embeddings. The random
    state is put back, so checking a checkpoint changes no seeded initialisation after it.
    """
    import paddle

    mini = copy.deepcopy(config)
    rows = (getattr(config, "pad_token_id", None) or 0) + 2  # tables must hold the padding row
    for key in MINIATURE_SIZES:
        if hasattr(mini, key):
            setattr(mini, key, rows)
    mini.hidden_size, mini.num_attention_heads, mini.intermediate_size = 2, 1, 2
    rng = paddle.get_rng_state()
    try:
        model = model_class(mini)
    finally:
        paddle.set_rng_state(rng)
    encoder = base_model(model)
    head = [] if encoder is model else [k for k in model.state_dict()
                                        if not k.startswith(model_class.base_model_prefix + ".")]
    return list(encoder.state_dict()), head


def encoder_state(keys, prefix):
    """The checkpoint's encoder weight names without `<prefix>.`: a task model's checkpoint has them under it
    (and a head beside), a bare encoder's (most pre-trained downloads) has none, as PaddleNLP reads them."""
    if any(k.startswith(prefix + ".") for k in keys):
        return [k[len(prefix) + 1:] for k in keys if k.startswith(prefix + ".")]
    return list(keys)


def check_covers(model_class, config, keys, what):
    """One InputError line unless the checkpoint with weight names KEYS fills every encoder weight of
    model_class(config) (the pooler may be missing), holds none the model has no place for, and, for a
    task model, holds its head.

    PaddleNLP's from_pretrained only logs such keys and leaves the weights random: an ERNIE checkpoint read as
    BERT trained a random model without an error.
    """
    prefix = model_class.base_model_prefix
    (wanted, head), have = weight_names(model_class, config), encoder_state(keys, prefix)
    have_set = set(have)
    required = [k for k in wanted if not k.startswith(POOLER)]
    missing = [k for k in required if k not in have_set]
    if missing:
        raise InputError(f"{what}: the weights do not cover the {config.model_type} encoder config.json describes: "
                         f"{prefix}.{missing[0]} is missing ({len(missing)} of {len(required)} encoder weights)")
    wanted_set = set(wanted)
    extra = [k for k in have if k.startswith(("embeddings.", "encoder.")) and k not in wanted_set]
    if extra:
        raise InputError(f"{what}: the weights hold {prefix}.{extra[0]}, which the {config.model_type} model "
                         f"config.json describes has no place for ({len(extra)} such weights)")
    check_head(model_class, head, keys, what)


def check_head(model_class, head, keys, what):
    """A task model's head (HEAD: its weight names) is in the checkpoint: from_pretrained would start it at
    random, and a teacher would teach noise."""
    keys = set(keys)
    no_head = [k for k in head if k not in keys]
    if not no_head:
        return
    others = sorted(k for k in keys if not k.startswith(model_class.base_model_prefix + "."))
    if others and any(k.startswith(model_class.base_model_prefix + ".") for k in keys):
        raise InputError(f"{what}: the weights hold {others[0]} but no {no_head[0]}: not a fine-tuned "
                         f"{model_class.__name__} (a pre-training head, or another version's layout?); its head "
                         f"would start at random")
    raise InputError(f"{what}: no {no_head[0]} in the weights: a pre-trained encoder, not a fine-tuned "
                     f"{model_class.__name__} (its head would start at random)")
