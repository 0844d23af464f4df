"""Each loss against an independent numpy computation of the formula; the layer mappings."""
import numpy as np
import paddle
import pytest

import kd_loss


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_ce(logits, labels):
    p = np_softmax(logits.astype(np.float64))
    return float(np.mean([-np.log(p[i, y]) for i, y in enumerate(labels)]))


def np_kd(s, t, T):
    pt, ps = np_softmax(t / T), np_softmax(s / T)
    per_example = [-sum(pt[i, c] * np.log(ps[i, c]) for c in range(s.shape[1])) for i in range(len(s))]
    return T * T * float(np.mean(per_example))


def np_pt(s, t):
    b, p, h = s.shape
    total = 0.0
    for j in range(p):
        sq = 0.0
        for i in range(b):
            diff = s[i, j] / np.sqrt((s[i, j] ** 2).sum()) - t[i, j] / np.sqrt((t[i, j] ** 2).sum())
            sq += (diff ** 2).sum()
        total += sq / (b * h)
    return total


SHAPES = [(1, 2), (8, 2), (5, 3)]


def tensor(x):
    return paddle.to_tensor(x)


@pytest.mark.parametrize("batch,classes", SHAPES)
def test_ce_matches_numpy(batch, classes):
    rng = np.random.RandomState(batch * 10 + classes)
    logits = rng.randn(batch, classes).astype("float32") * 3
    labels = rng.randint(0, classes, size=batch).astype("int64")
    got = kd_loss.ce_loss(tensor(logits), tensor(labels)).item()
    assert got == pytest.approx(np_ce(logits, labels), rel=1e-5)


@pytest.mark.parametrize("batch,classes", SHAPES)
@pytest.mark.parametrize("T", [0.8, 1.0, 5.0, 10.0])
def test_kd_matches_numpy_and_softens_both_sides(batch, classes, T):
    rng = np.random.RandomState(batch + classes)
    s = rng.randn(batch, classes).astype("float64") * 4
    t = rng.randn(batch, classes).astype("float64") * 4
    got = kd_loss.kd_loss(tensor(s), tensor(t), T).item()
    assert got == pytest.approx(np_kd(s, t, T), rel=1e-9)
    if T != 1.0:  # the original softened only the teacher; that value must differ
        teacher_only = T * T * float(np.mean(-(np_softmax(t / T) * np.log(np_softmax(s))).sum(-1)))
        assert abs(got - teacher_only) > 1e-6


@pytest.mark.parametrize("batch,pairs,hidden", [(1, 1, 4), (4, 5, 16), (3, 2, 7)])
def test_pt_matches_numpy(batch, pairs, hidden):
    rng = np.random.RandomState(batch * pairs + hidden)
    s = rng.randn(batch, pairs, hidden)
    t = rng.randn(batch, pairs, hidden)
    got = kd_loss.pt_loss(tensor(s), tensor(t)).item()
    assert got == pytest.approx(np_pt(s, t), rel=1e-9)


def test_pt_is_zero_for_parallel_vectors():
    s = paddle.rand([3, 2, 8], dtype="float64") + 0.1
    assert kd_loss.pt_loss(s, 7.0 * s).item() == pytest.approx(0.0, abs=1e-12)


def test_pkd_loss_combines_weighted_parts():
    rng = np.random.RandomState(0)
    s, t = rng.randn(6, 2), rng.randn(6, 2)
    labels = rng.randint(0, 2, 6).astype("int64")
    sc, tc = rng.randn(6, 3, 10), rng.randn(6, 3, 10)
    alpha, T, beta = 0.3, 4.0, 500.0
    total, parts = kd_loss.pkd_loss(tensor(s), tensor(t), tensor(labels), tensor(sc), tensor(tc), alpha, T, beta)
    expected = (1 - alpha) * np_ce(s, labels) + alpha * np_kd(s, t, T) + beta * np_pt(sc, tc)
    assert total.item() == pytest.approx(expected, rel=1e-9)
    assert parts["ce"].item() == pytest.approx(np_ce(s, labels), rel=1e-9)
    assert parts["kd"].item() == pytest.approx(np_kd(s, t, T), rel=1e-9)
    assert parts["pt"].item() == pytest.approx(np_pt(sc, tc), rel=1e-9)


def test_fine_tuning_needs_no_teacher_outputs():
    s = paddle.to_tensor([[1.0, -1.0], [0.5, 0.2]])
    total, parts = kd_loss.pkd_loss(s, None, paddle.to_tensor([0, 1]), None, None, 0.0, 10.0, 0.0)
    assert parts["kd"] is None and parts["pt"] is None
    assert total.item() == pytest.approx(parts["ce"].item())


@pytest.mark.parametrize("m,n,strategy,expected", [
    (6, 12, "skip", [2, 4, 6, 8, 10]),
    (6, 12, "last", [7, 8, 9, 10, 11]),
    (3, 12, "skip", [4, 8]),
    (3, 12, "last", [10, 11]),
    (3, 6, "skip", [2, 4]),
    (3, 6, "last", [4, 5]),
    (4, 12, "skip", [3, 6, 9]),
    (4, 12, "last", [9, 10, 11]),
    (1, 12, "skip", []),
    (12, 12, "skip", list(range(1, 12))),
])
def test_teacher_layers_for(m, n, strategy, expected):
    assert kd_loss.teacher_layers_for(m, n, strategy) == expected


@pytest.mark.parametrize("m,n,strategy", [(13, 12, "skip"), (0, 12, "skip"), (6, 12, "first")])
def test_teacher_layers_for_rejects_invalid(m, n, strategy):
    with pytest.raises(ValueError):
        kd_loss.teacher_layers_for(m, n, strategy)


def test_layer_pairs_are_one_based_student_then_teacher():
    assert kd_loss.layer_pairs(3, 12, "skip") == [[1, 4], [2, 8]]


def test_stack_cls_takes_encoder_layer_outputs_not_embeddings():
    hidden = [paddle.full([2, 5, 3], float(i)) for i in range(7)]  # entry 0 = embeddings
    got = kd_loss.stack_cls(hidden, [2, 4]).numpy()
    assert got.shape == (2, 2, 3)
    assert (got[:, 0] == 2).all() and (got[:, 1] == 4).all()
