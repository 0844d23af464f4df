"""Augmented copies of examples, the rules of Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT
into Simple Neural Networks", arXiv:1903.12136, section 3.3), for the teacher to label.

For each word, one draw X ~ U(0, 1): X < p_mask replaces it with the mask token; p_mask <= X < p_mask + p_pos
with another word of the same part of speech. Then, with probability p_ng, the copy is cut to a random n-gram,
n drawn from 1..5. Probabilities as published: p_mask 0.1, p_pos 0.1, p_ng 0.25. For a pair, copy j changes
the first text (j % 3 == 0), the second (1) or both (2), as the paper does for MNLI and QQP.

Words and parts of speech: Chinese text (any CJK character) is cut by jieba's `posseg`, offline, and a word
is replaced by another one with the same tag, drawn as the paper does from the unigram distribution of the words
with that tag (counted over the examples being augmented), the word itself left out. English text is split
on whitespace and gets masking and n-gram sampling only: an English part-of-speech tagger needs a model
download (NLTK's and spaCy's taggers), so same-POS replacement is left out, as in PaddleNLP's distill_lstm
example (masking and n-gram sampling). paddlenlp.dataaug is not used: it is Chinese-only and downloads its
word lists when constructed.

Copies are drawn from numpy's RandomState([seed, example, copy]): the same seed gives the same copies.
A copy equal to its original, to another copy or to any original is dropped.
"""
import csv
import re

import numpy as np

P_MASK, P_POS, P_NGRAM, MAX_NGRAM = 0.1, 0.1, 0.25, 5
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def tagged_words(text):
    """[(word, part-of-speech tag or None)]: jieba for Chinese, whitespace for other text."""
    if CJK.search(text):
        import jieba.posseg  # a PaddleNLP dependency; imported only when Chinese text is augmented

        return [(pair.word, pair.flag) for pair in jieba.posseg.lcut(text) if pair.word.strip()]
    return [(w, None) for w in text.split()]


def join_words(words, chinese):
    return ("" if chinese else " ").join(words)


class TagVocabulary:
    """The words of each part-of-speech tag and their counts, for draws from the tag's unigram distribution."""

    def __init__(self, tagged_texts):
        counts = {}  # {tag: {word: count}}, first-seen order: the same examples give the same draws
        for words in tagged_texts:
            for word, tag in words:
                if tag is not None:
                    by_word = counts.setdefault(tag, {})
                    by_word[word] = by_word.get(word, 0) + 1
        self.words = {tag: list(by_word) for tag, by_word in counts.items()}
        self.index = {tag: {w: i for i, w in enumerate(by_word)} for tag, by_word in counts.items()}
        self.counts = {tag: np.array(list(by_word.values())) for tag, by_word in counts.items()}
        self.cumulative = {tag: np.cumsum(c) for tag, c in self.counts.items()}

    def can_replace(self, tag):
        return tag is not None and len(self.words.get(tag, ())) > 1

    def replacement(self, word, tag, rng):
        """Another word with `tag`, drawn with probability proportional to its count (`word` itself excluded)."""
        i, cumulative = self.index[tag][word], self.cumulative[tag]
        own = self.counts[tag][i]
        r = rng.random_sample() * (cumulative[-1] - own)
        if r >= cumulative[i] - own:  # skip over the word's own stretch of the cumulative counts
            r += own
        return self.words[tag][int(np.searchsorted(cumulative, r, side="right"))]


def augment_words(words, rng, mask_token, vocabulary):
    """One copy of [(word, tag)] as a list of words: masking, same-POS replacement, then n-gram sampling."""
    out = []
    for word, tag in words:
        x = rng.random_sample()
        if x < P_MASK:
            out.append(mask_token)
        elif x < P_MASK + P_POS and vocabulary.can_replace(tag):
            out.append(vocabulary.replacement(word, tag, rng))
        else:
            out.append(word)
    if len(out) > 1 and rng.random_sample() < P_NGRAM:
        n = rng.randint(1, min(MAX_NGRAM, len(out)) + 1)
        start = rng.randint(0, len(out) - n + 1)
        out = out[start:start + n]
    return out


def augment(examples, keys, copies, seed, mask_token):
    """(augmented examples, index of each one's original): `copies` per example, duplicates dropped.

    examples: [{key: text}]; keys: the text keys (one, or two for pairs). Labels are not copied.
    """
    tagged = [[tagged_words(e[k]) for k in keys] for e in examples]
    vocabulary = TagVocabulary(words for texts in tagged for words in texts)
    seen = {tuple(e[k] for k in keys) for e in examples}
    out, origins = [], []
    for i, texts in enumerate(tagged):
        chinese = [bool(CJK.search(examples[i][k])) for k in keys]
        for j in range(copies):
            rng = np.random.RandomState([seed, i, j])
            changed = range(len(keys)) if len(keys) == 1 or j % 3 == 2 else [j % 3]
            new = [join_words(augment_words(texts[t], rng, mask_token, vocabulary), chinese[t]) if t in changed
                   else examples[i][k] for t, k in enumerate(keys)]
            if tuple(new) in seen or not all(x.strip() for x in new):
                continue
            seen.add(tuple(new))
            out.append(dict(zip(keys, new)))
            origins.append(i)
    return out, origins


def write_examples(path, keys, examples, sources):
    """The augmented texts as a TSV to read (source, then the text columns); csv quoting where a text needs it."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["source", *keys])
        writer.writerows([source, *(e[k] for k in keys)] for e, source in zip(examples, sources))
