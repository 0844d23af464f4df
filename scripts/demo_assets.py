"""A small synthetic sentiment task in the official SST-2 layout, and a small BERT with its own vocabulary.

Nothing here is downloaded, so the demo and the tests run on a machine with no model hub
and no dataset host. The task needs word order (negation flips the next sentiment word),
so a bag of words cannot solve it and depth matters a little.
"""
import os
import random

POSITIVE = ["good", "great", "excellent", "wonderful", "moving", "charming", "funny", "brilliant"]
NEGATIVE = ["bad", "awful", "boring", "dull", "terrible", "weak", "messy", "tedious"]
NEGATORS = ["not", "never", "hardly"]
FILLER = ["the", "movie", "film", "plot", "story", "cast", "acting", "was", "is", "quite", "very",
          "and", "but", "a", "with", "its", "ending", "music", "director", "this", "really", "at", "times"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_sentence(rng):
    """(sentence, label): label 1 when the negation-aware polarity sum is positive."""
    words, score = [], 0
    n_sentiment = rng.choice([1, 3, 5])  # odd: the score is never zero
    for _ in range(n_sentiment):
        words += rng.sample(FILLER, rng.randint(1, 3))
        polarity = rng.choice([1, -1])
        if rng.random() < 0.3:
            words.append(rng.choice(NEGATORS))
            score -= polarity
        else:
            score += polarity
        words.append(rng.choice(POSITIVE if polarity > 0 else NEGATIVE))
    words += rng.sample(FILLER, rng.randint(0, 2))
    return " ".join(words), int(score > 0)


def write_sst2_layout(data_dir, num_train=2000, num_dev=500, num_test=200, seed=0):
    """train.tsv / dev.tsv (`sentence\\tlabel`) and test.tsv (`index\\tsentence`), as GLUE ships SST-2."""
    rng = random.Random(seed)
    os.makedirs(data_dir, exist_ok=True)
    for split, n in (("train", num_train), ("dev", num_dev)):
        with open(os.path.join(data_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            for _ in range(n):
                f.write("%s\t%d\n" % make_sentence(rng))
    with open(os.path.join(data_dir, "test.tsv"), "w", encoding="utf-8") as f:
        f.write("index\tsentence\n")
        for i in range(num_test):
            f.write("%d\t%s\n" % (i, make_sentence(rng)[0]))


STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"


def make_pair(rng):
    """(sentence1, sentence2, score): sentence2 keeps a share of sentence1's words and has the others
    replaced by sentiment words; the score is 5 x the share kept."""
    first = rng.sample(FILLER, rng.randint(4, 8))
    keep = rng.randint(0, len(first))
    kept = set(rng.sample(range(len(first)), keep))
    second = [w if i in kept else rng.choice(POSITIVE + NEGATIVE) for i, w in enumerate(first)]
    return " ".join(first), " ".join(second), 5.0 * keep / len(first)


def write_stsb_layout(data_dir, num_train=2000, num_dev=500, num_test=200, seed=0):
    """STS-B as GLUE ships it: 10 columns with the score last (train, dev), 9 without it (test)."""
    rng = random.Random(seed)
    os.makedirs(data_dir, exist_ok=True)
    for split, n in (("train", num_train), ("dev", num_dev), ("test", num_test)):
        with open(os.path.join(data_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write(STSB_HEADER + ("\tscore\n" if split != "test" else "\n"))
            for i in range(n):
                s1, s2, score = make_pair(rng)
                row = [str(i), "main-captions", "MSRvid", "2012test", f"{i:04d}", "none", "none", s1, s2]
                f.write("\t".join(row + ([f"{score:.3f}"] if split != "test" else [])) + "\n")


def write_tiny_bert(model_dir, num_layers=12, hidden_size=64, heads=4, seed=0, dropout=0.1, words=None):
    """A randomly initialised BERT and its tokenizer, as a save_pretrained folder (the demo's 'pre-trained' model).

    words: the vocabulary after the special tokens (default: the synthetic task's words).
    """
    import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)
    import paddle
    from paddlenlp.transformers import BertConfig, BertModel, BertTokenizer

    from model_folders import safe_weights

    os.makedirs(model_dir, exist_ok=True)
    vocab_file = os.path.join(model_dir, "vocab.txt")
    words = words if words is not None else sorted(set(POSITIVE + NEGATIVE + NEGATORS + FILLER))
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("\n".join(SPECIAL + list(words)) + "\n")
    paddle.seed(seed)
    config = BertConfig(vocab_size=len(SPECIAL) + len(words), hidden_size=hidden_size,
                        num_hidden_layers=num_layers, num_attention_heads=heads,
                        intermediate_size=2 * hidden_size, max_position_embeddings=128,
                        type_vocab_size=2, pad_token_id=0, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    safe_weights.save_pretrained(BertModel(config), model_dir)
    BertTokenizer(vocab_file, do_lower_case=True).save_pretrained(model_dir)
    return model_dir


# family -> (PaddleNLP config, model and tokenizer class names, config fields beyond the sizes). ernie3 is
# ERNIE 3.0: the same ErnieModel with task-type embeddings. roberta is Chinese RoBERTa as roberta-wwm-ext
# ships it (vocab.txt, two token types, pad 0); roberta_bpe the English one (byte-level BPE, one token type,
# pad 1, positions from pad + 1, so its table has 2 rows more).
TINY_ENCODERS = {
    "bert": ("BertConfig", "BertModel", "BertTokenizer", dict(type_vocab_size=2)),
    "ernie": ("ErnieConfig", "ErnieModel", "ErnieTokenizer", dict(type_vocab_size=4)),
    "ernie3": ("ErnieConfig", "ErnieModel", "ErnieTokenizer",
               dict(type_vocab_size=4, use_task_id=True, task_type_vocab_size=3)),
    "roberta": ("RobertaConfig", "RobertaModel", "RobertaChineseTokenizer",
                dict(type_vocab_size=2, pad_token_id=0, cls_token_id=2)),
    "roberta_bpe": ("RobertaConfig", "RobertaModel", "RobertaBPETokenizer",
                    dict(type_vocab_size=1, pad_token_id=1, cls_token_id=0, max_position_embeddings=128 + 2)),
}
BPE_SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
BPE_SPACE = "\u0120"  # byte-level BPE's mark of a preceding space


def write_bpe_vocabulary(model_dir, words):
    """vocab.json and merges.txt of a tiny byte-level BPE that spells every word (after a space) as one token."""
    import json

    letters = sorted(set("".join(words)))
    vocab = {t: i for i, t in enumerate(BPE_SPECIAL + [BPE_SPACE] + letters + [BPE_SPACE + c for c in letters])}
    merges = []
    for word in words:
        pieces = [BPE_SPACE] + list(word)
        while len(pieces) > 1:  # merged left to right: Ġ g -> Ġg, Ġg o -> Ġgo, ...
            merges.append(f"{pieces[0]} {pieces[1]}")
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))
    paths = os.path.join(model_dir, "vocab.json"), os.path.join(model_dir, "merges.txt")
    with open(paths[0], "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(paths[1], "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return paths, len(vocab)


def write_tiny_encoder(family, model_dir, num_layers=12, hidden_size=64, heads=4, seed=0, dropout=0.1, words=None):
    """write_tiny_bert for another encoder family (TINY_ENCODERS): a randomly initialised pre-trained-like
    folder with config.json, model.safetensors and the family's tokenizer files."""
    import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)
    import paddle
    import paddlenlp.transformers as transformers

    from model_folders import safe_weights

    if family == "bert":
        return write_tiny_bert(model_dir, num_layers, hidden_size, heads, seed, dropout, words)
    config_class, model_class, tokenizer_class, extra = TINY_ENCODERS[family]
    os.makedirs(model_dir, exist_ok=True)
    words = words if words is not None else sorted(set(POSITIVE + NEGATIVE + NEGATORS + FILLER))
    if tokenizer_class == "RobertaBPETokenizer":
        files, vocab_size = write_bpe_vocabulary(model_dir, words)
    else:
        files = (os.path.join(model_dir, "vocab.txt"),)
        with open(files[0], "w", encoding="utf-8") as f:
            f.write("\n".join(SPECIAL + list(words)) + "\n")
        vocab_size = len(SPECIAL) + len(words)
    paddle.seed(seed)
    config = getattr(transformers, config_class)(
        **{"vocab_size": vocab_size, "hidden_size": hidden_size, "num_hidden_layers": num_layers,
           "num_attention_heads": heads, "intermediate_size": 2 * hidden_size, "max_position_embeddings": 128,
           "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout, **extra})
    safe_weights.save_pretrained(getattr(transformers, model_class)(config), model_dir)
    getattr(transformers, tokenizer_class)(*files).save_pretrained(model_dir)
    return model_dir


def char_vocabulary(tsv_path, text_column, min_count=2):
    """Characters of a TSV's text column seen at least `min_count` times (a vocabulary for Chinese text)."""
    from collections import Counter

    counts = Counter()
    with open(tsv_path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index(text_column)
        for line in f:
            counts.update(line.rstrip("\n").split("\t")[col].lower())
    return sorted(c for c, n in counts.items() if n >= min_count and not c.isspace())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Make a small randomly initialised BERT with a character "
                                                 "vocabulary taken from a TSV (e.g. ChnSentiCorp train.tsv).")
    parser.add_argument("--tsv", required=True)
    parser.add_argument("--text_column", default="text_a")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("out_dir")
    a = parser.parse_args()
    vocab = char_vocabulary(a.tsv, a.text_column)
    write_tiny_bert(a.out_dir, a.layers, a.hidden, a.heads, words=vocab)
    print(f"wrote {a.out_dir}: {a.layers} layers, hidden {a.hidden}, vocabulary {len(vocab) + len(SPECIAL)}")
