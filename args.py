"""Command line of run_patient_kd.py: the reference README's flags, checked right after parsing."""
import argparse
import os
import sys

from errors import InputError

TASK_NAMES = ("sst-2", "qqp", "chnsenticorp", "cola", "mrpc", "rte", "qnli", "mnli", "wnli", "sts-b")
DEFAULT_T = 10.0
MAX_AUGMENT = 100  # copies per example: Tang et al. used 20 (SST-2) and 10 (MNLI, QQP)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, no usage dump: users run this under nohup and read the log's last line.
        sys.stderr.write(f"error: {message} (see --help)\n")
        sys.exit(2)


def default_device():
    from runtime import paddle_compat

    return "gpu" if paddle_compat.visible_gpus() > 0 else "cpu"


def check_device(device):
    """--device gpu on a CPU-only Paddle or without a visible GPU: InputError saying what to install or use."""
    if device == "gpu":
        from runtime import paddle_compat

        problem = paddle_compat.gpu_unusable()
        if problem:
            raise InputError(problem)


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(base, "paddle-pkd", "teacher_cache")


def build_parser():
    p = _Parser(description="Fine-tuning, KD and Patient-KD of BERT students (Sun et al. 2019).")
    p.add_argument("--task_name", default=None, metavar="TASK",
                   help="one of SST-2, QQP, ChnSentiCorp, CoLA, MRPC, RTE, QNLI, MNLI, WNLI, STS-B (any case); with "
                        "--train_file only a name for logs and tables (default: the train file's name)")
    p.add_argument("--model_name_or_path", default="bert-base-uncased",
                   help="pre-trained BERT: a hub name or a local save_pretrained folder")
    p.add_argument("--teacher_finetuned_model_path", default=None,
                   help="fine-tuned teacher folder; required for KD and PKD")
    p.add_argument("--data_dir", default=None,
                   help="folder with the official train.tsv and dev.tsv; without it the task is downloaded")
    own = p.add_argument_group("your own data (instead of a built-in task)")
    own.add_argument("--train_file", help="training examples: .csv or .tsv with a header row, or .jsonl")
    own.add_argument("--dev_file", help="evaluation examples, same columns (needed with --train_file)")
    own.add_argument("--test_file", help="examples to predict with the best model after training, into "
                                         "OUTPUT_DIR/test_predictions.tsv (same columns; labels optional)")
    own.add_argument("--text_columns", metavar="NAME[,NAME]",
                     help="one column (single texts) or two (pairs); default: text, sentence, text_a,text_b or "
                          "sentence1,sentence2, whichever the file has")
    own.add_argument("--label_column", default="label")
    own.add_argument("--task_type", choices=("classification", "regression"), default="classification")
    own.add_argument("--labels", metavar="A,B,...", help="the classes in this order (default: the sorted train labels)")
    p.add_argument("--metric_for_best", default=None, metavar="NAME",
                   help="the dev metric best_model is chosen by (default: acc; pearson_and_spearman for regression; "
                        "mcc for CoLA)")
    unlabelled = p.add_argument_group("unlabelled text the teacher labels (KD and PKD; docs/unlabelled.md)")
    unlabelled.add_argument("--transfer_file", action="append", default=None, metavar="F[,F]",
                            help="unlabelled in-domain text (.csv, .tsv, .jsonl; repeat the flag or give a comma list): "
                                 "the student learns the teacher's outputs on it (KD and PT), no CE; a label column "
                                 "is ignored")
    unlabelled.add_argument("--transfer_text_columns", metavar="NAME[,NAME]",
                            help="the transfer files' text columns, in the task's order (default: the train file's, "
                                 "or text, sentence, text_a / text_a,text_b, sentence1,sentence2)")
    unlabelled.add_argument("--labelled_share", type=float, default=None, metavar="S",
                            help="the labelled examples' share of each epoch, reached by repeating them (default: "
                                 "each example once per epoch, the natural share)")
    unlabelled.add_argument("--augment", type=int, default=0, metavar="N",
                            help=f"N augmented copies of every labelled example (masking, same-POS replacement for "
                                 f"Chinese, n-gram sampling: Tang et al. 2019), labelled by the teacher; at most "
                                 f"{MAX_AUGMENT}")
    unlabelled.add_argument("--augment_transfer", action="store_true", help="augment the transfer set too")
    unlabelled.add_argument("--write_augmented", metavar="FILE.tsv",
                            help="write the augmented texts here (source line and text), to read them")
    unlabelled.add_argument("--eval_overlap", choices=("refuse", "drop", "keep"), default="refuse",
                            help="transfer or augmented texts that are also dev or test texts: refuse the run "
                                 "(default), drop them, or keep them (the dev score is then optimistic)")
    p.add_argument("--output_dir", default="output")
    p.add_argument("--holdout_from_train", type=int, default=0, metavar="N",
                   help="evaluate on N examples held out from train instead of dev (for choosing hyper-parameters)")
    p.add_argument("--max_train_examples", type=int, default=0, metavar="N",
                   help="train on N examples drawn at random from train (the same examples for every --seed); 0: all")

    p.add_argument("--num_layers_of_student_model", type=int, default=None,
                   help="student depth, its first N layers (default 6; with --student_model_name_or_path all its layers)")
    p.add_argument("--student_model_name_or_path", default=None,
                   help="a separately pre-trained smaller model of the teacher's family and vocabulary (e.g. "
                        "ernie-3.0-mini-zh) to build the student from; narrower than the teacher, PKD compares "
                        "[CLS] states through a learned projection")
    p.add_argument("--student_init", choices=("pretrained", "teacher"), default="pretrained",
                   help="copy embeddings, the first N layers and the pooler from the pre-trained model or the teacher")
    p.add_argument("--alpha", type=float, default=0.0, help="weight of the distillation loss, in [0, 1]")
    p.add_argument("--T", type=float, default=None,
                   help=f"softmax temperature of the distillation loss (default {DEFAULT_T:g}); classification only: "
                        "a regression task (STS-B) distils with the squared error to the teacher's output, no T")
    p.add_argument("--beta", type=float, default=0.0, help="weight of the patient (intermediate layer) loss")
    p.add_argument("--strategy", choices=("skip", "last"), default="skip")

    p.add_argument("--num_train_epochs", type=int, default=3)
    p.add_argument("--max_steps", type=int, default=-1, help="stop after this many steps (overrides epochs)")
    p.add_argument("--batch_size", type=int, default=32, help="per process; the global batch is this x processes")
    p.add_argument("--gradient_accumulation_steps", type=int, default=1,
                   help="micro-batches of --batch_size per optimizer step")
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--learning_rate", type=float, default=5e-5)
    p.add_argument("--warmup_proportion", type=float, default=0.1)
    p.add_argument("--weight_decay", type=float, default=0.01)
    p.add_argument("--adam_epsilon", type=float, default=1e-8)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--group_by_length", action=argparse.BooleanOptionalAction, default=True,
                   help="batch sentences of similar length together (less padding; --no-group_by_length: random)")

    p.add_argument("--logging_steps", type=int, default=10)
    p.add_argument("--save_steps", type=int, default=100)
    p.add_argument("--eval_steps", type=int, default=None, help="default: --save_steps")
    p.add_argument("--early_stopping_patience", type=int, default=0, metavar="N",
                   help="stop after N evaluations in a row without a new best dev metric (0: never)")
    p.add_argument("--no_teacher_cache", action="store_true",
                   help="run the teacher at every step instead of caching its outputs once")
    p.add_argument("--teacher_cache_dir", default=None,
                   help="where teacher outputs, and in encoded/ the tokenised --data_dir splits, are cached "
                        "(default: $XDG_CACHE_HOME/paddle-pkd/teacher_cache)")
    p.add_argument("--save_total_limit", type=int, default=2, help="checkpoints kept (best_model is kept apart)")
    p.add_argument("--resume", action="store_true",
                   help="require resuming from OUTPUT_DIR's newest checkpoint (a run of the same flags resumes anyway)")
    p.add_argument("--logdir", default=None, help="write VisualDL scalars (losses, lr, dev metrics) here")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", choices=("gpu", "cpu"), default=None, help="default: gpu when one is visible")
    p.add_argument("--use_amp", action="store_true", help="mixed precision (float16 with loss scaling), GPU only")
    return p


def flag_values(args):
    """{flag: value} of every command-line flag (as given or defaulted), without the fields derived from them."""
    return {a.dest: getattr(args, a.dest) for a in build_parser()._actions if a.dest != "help"}


def mode_of(alpha, beta):
    """The reference's implicit modes: beta > 0 is PKD, else alpha > 0 is KD, else fine-tuning."""
    if beta > 0:
        return "pkd"
    return "kd" if alpha > 0 else "ft"


OWN_DATA_DEFAULTS = {"text_columns": None, "label_column": "label", "task_type": "classification", "labels": None}


def check_task_flags(args):
    """A built-in --task_name, or --train_file with --dev_file; never both kinds of data."""
    own = [f"--{k}" for k in ("train_file", "dev_file", "test_file") if getattr(args, k)]
    own += [f"--{k}" for k, default in OWN_DATA_DEFAULTS.items() if getattr(args, k) != default]
    if own and not args.train_file:
        raise InputError(f"{own[0]} is for your own files: it needs --train_file and --dev_file")
    if args.train_file:
        if not args.dev_file:
            raise InputError("--train_file needs --dev_file (the examples evaluated during training)")
        if args.data_dir:
            raise InputError("--data_dir is for the built-in tasks' official files; with --train_file and --dev_file "
                             "leave it out")
        return
    if args.task_name is None:
        raise InputError("give --task_name (one of SST-2, QQP, ChnSentiCorp, CoLA, MRPC, RTE, QNLI, MNLI, WNLI, "
                         "STS-B) or your own --train_file and --dev_file")
    args.task_name = args.task_name.lower()
    if args.task_name not in TASK_NAMES:
        raise InputError(f"--task_name {args.task_name!r} is not a built-in task ({', '.join(TASK_NAMES)}); "
                         f"for your own data give --train_file and --dev_file")


def check_args(args):
    """Raise InputError naming the flag for values no run can use."""
    check_task_flags(args)
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.T <= 0:
        raise InputError(f"--T must be > 0, got {args.T}")
    if args.beta < 0:
        raise InputError(f"--beta must be >= 0, got {args.beta}")
    positive = ("num_layers_of_student_model", "batch_size", "max_seq_length", "logging_steps",
                "save_steps", "eval_steps", "save_total_limit", "gradient_accumulation_steps")
    for name in positive:
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise InputError(f"--{name} must be > 0, got {getattr(args, name)}")
    for name in ("holdout_from_train", "max_train_examples", "early_stopping_patience"):
        if getattr(args, name) < 0:
            raise InputError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.num_train_epochs <= 0 and args.max_steps <= 0:
        raise InputError("--num_train_epochs must be > 0 (or give --max_steps)")
    if not 0.0 <= args.warmup_proportion <= 1.0:
        raise InputError(f"--warmup_proportion must be in [0, 1], got {args.warmup_proportion}")
    if args.learning_rate <= 0:
        raise InputError(f"--learning_rate must be > 0, got {args.learning_rate}")
    if args.max_seq_length > 512:
        raise InputError(f"--max_seq_length must be <= 512 (BERT's position table), got {args.max_seq_length}")
    if args.use_amp and args.device != "gpu":
        raise InputError("--use_amp needs a GPU (--device gpu): float16 training is not supported on CPU")
    check_unlabelled_flags(args)
    if args.student_model_name_or_path and args.student_init == "teacher":
        raise InputError("--student_model_name_or_path builds the student from that model: leave out --student_init "
                         "teacher")
    needs_teacher = args.mode != "ft" or args.student_init == "teacher"
    if needs_teacher and not args.teacher_finetuned_model_path:
        why = f"{args.mode.upper()} (alpha={args.alpha}, beta={args.beta})" if args.mode != "ft" \
            else "--student_init teacher"
        raise InputError(f"{why} needs --teacher_finetuned_model_path")


def check_unlabelled_flags(args):
    """Transfer files and augmentation: text the teacher labels, so they need KD or PKD."""
    # a list of paths, or None as the parser's default (which checkpoints made before the flag existed match)
    args.transfer_file = [f.strip() for given in args.transfer_file or () for f in given.split(",") if f.strip()] or None
    if not 0 <= args.augment <= MAX_AUGMENT:
        raise InputError(f"--augment must be between 0 and {MAX_AUGMENT} copies per example, got {args.augment}")
    if args.labelled_share is not None and not 0.0 < args.labelled_share < 1.0:
        raise InputError(f"--labelled_share must be in (0, 1), got {args.labelled_share}")
    wanted = [flag for flag, given in (("--transfer_file", args.transfer_file), ("--augment", args.augment),
                                        ("--augment_transfer", args.augment_transfer),
                                        ("--labelled_share", args.labelled_share is not None),
                                        ("--transfer_text_columns", args.transfer_text_columns),
                                        ("--write_augmented", args.write_augmented)) if given]
    if wanted and args.mode == "ft":
        raise InputError(f"{wanted[0]} gives text that the teacher labels: it needs KD or PKD (--alpha > 0 or "
                         f"--beta > 0) and --teacher_finetuned_model_path")
    if args.augment_transfer and not (args.augment and args.transfer_file):
        raise InputError("--augment_transfer needs --augment N and --transfer_file")
    if args.labelled_share is not None and not (args.transfer_file or args.augment):
        raise InputError("--labelled_share needs unlabelled examples (--transfer_file or --augment)")
    if args.write_augmented and not args.augment:
        raise InputError("--write_augmented needs --augment N")


def parse_args(argv=None):
    """Parse and validate; exits with status 2 and one `error:` line on a bad flag."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.eval_steps is None:
        args.eval_steps = args.save_steps
    args.T_given = args.T is not None  # a regression task says it ignores a T the user gave
    if args.T is None:
        args.T = DEFAULT_T
    if args.device is None:
        args.device = default_device()
    if args.teacher_cache_dir is None:
        args.teacher_cache_dir = default_cache_dir()
    args.mode = mode_of(args.alpha, args.beta)
    if args.num_layers_of_student_model is None and not args.student_model_name_or_path:
        args.num_layers_of_student_model = 6  # the reference's default; another student model keeps its own depth
    try:
        check_args(args)
    except InputError as e:
        parser.error(str(e))
    try:
        check_device(args.device)
    except InputError as e:  # not a typo in the command line: no "see --help"
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    return args
