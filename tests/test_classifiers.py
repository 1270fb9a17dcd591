"""The two classifiers' maths: k-NN exactly as Core ML computes it, and the softmax head."""

import numpy as np
import pytest

from emojisketch.classifiers import MIN_DISTANCE, KNNClassifier, NNHeadClassifier


def reference_knn(q, entries, labels, k):
    """Core ML's k-NN written as plainly as possible: loops, no tricks."""
    d = [max(float(np.sum((q.astype(np.float64) - e.astype(np.float64)) ** 2)), MIN_DISTANCE)
         for e in entries]
    nearest = sorted(range(len(d)), key=lambda i: (d[i], i))[:k]
    votes = {}
    for i in nearest:
        votes[labels[i]] = votes.get(labels[i], 0.0) + 1.0 / d[i]
    total = sum(votes.values())
    return {c: v / total for c, v in votes.items()}


def unit(rng, n, d=8):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("k", [1, 3, 5, 40])
def test_knn_probabilities_follow_core_ml_formula(k):
    rng = np.random.default_rng(k)
    entries = unit(rng, 30)
    labels = [f"c{i % 7}" for i in rng.permutation(30)]
    knn = KNNClassifier(entries, labels, k=k)
    queries = unit(rng, 10)
    p = knn.predict_proba(queries)
    assert p.shape == (10, 7)
    for row, q in zip(p, queries):
        ref = reference_knn(q, entries, labels, k)
        for j, c in enumerate(knn.classes):
            assert row[j] == pytest.approx(ref.get(c, 0.0), abs=1e-6)
        assert row.sum() == pytest.approx(1.0, abs=1e-6)


def test_knn_ties_go_to_the_lower_index_and_exact_copies_take_the_vote():
    e = np.array([[1, 0], [0, 1], [0, -1], [-1, 0]], np.float32)
    knn = KNNClassifier(e, ["a", "b", "c", "d"], k=1)
    # (1, 1)/sqrt2 is equally far from "a" and "b": the lower index wins.
    assert knn.predict_proba(np.array([[0.7071068, 0.7071068]]))[0].tolist() == [1, 0, 0, 0]
    knn3 = KNNClassifier(e, ["a", "b", "c", "d"], k=3)
    p = knn3.predict_proba(e[:1])[0]  # the query is entry "a": distance 0 -> 1 / MIN_DISTANCE
    assert p[0] > 0.99999 and p.sum() == pytest.approx(1.0)


def test_knn_rank_fills_with_next_nearest_labels_at_probability_zero():
    e = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0], [0, -1]], np.float32)
    knn = KNNClassifier(e, ["a", "a", "b", "c", "d"], k=2)
    order, p = knn.rank(np.array([[1, 0]], np.float32))
    ranked = [knn.classes[j] for j in order[0]]
    assert ranked[0] == "a" and p[0, order[0, 0]] == 1.0  # both neighbours are "a"
    assert ranked[1:3] == ["b", "d"] or ranked[1:3] == ["d", "b"]  # equally far, then...
    assert ranked[1:] == ["b", "d", "c"]  # ...class order breaks the tie; "c" is farthest
    assert p[0, order[0, 1:]].tolist() == [0, 0, 0]


def test_knn_is_never_changed_in_place():
    rng = np.random.default_rng(0)
    knn = KNNClassifier(unit(rng, 4), ["a", "b", "c", "d"], k=3, n_base=4)
    more = knn.with_entries(unit(rng, 2), ["e", "a"])
    assert len(knn.labels) == 4 and knn.classes == ["a", "b", "c", "d"]
    assert more.classes == ["a", "b", "c", "d", "e"] and more.n_base == 4 and more.n_examples == 2
    with pytest.raises(ValueError):
        knn.embeddings[0, 0] = 1.0


def test_knn_with_fewer_entries_than_k_and_with_none():
    knn = KNNClassifier(np.array([[1, 0]], np.float32), ["a"], k=3)
    assert knn.predict_proba(np.array([[0, 1]], np.float32)).tolist() == [[1.0]]
    empty = KNNClassifier(np.zeros((0, 2), np.float32), [], k=3)
    assert empty.predict_proba(np.array([[0, 1]], np.float32)).shape == (1, 0)


def test_nn_head_is_a_softmax_of_one_inner_product():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 8)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    head = NNHeadClassifier(w, b, ["a", "b", "c", "d"], n_base=4)
    q = unit(rng, 5)
    z = q @ w.T + b
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(head.predict_proba(q), ref, atol=1e-6)
    order, p = head.rank(q)
    assert (order[:, 0] == ref.argmax(1)).all()


def test_nn_head_rejects_shapes_that_do_not_agree():
    with pytest.raises(ValueError):
        NNHeadClassifier(np.zeros((3, 4)), np.zeros(2), ["a", "b", "c"])
    with pytest.raises(ValueError):
        NNHeadClassifier(np.zeros((2, 4)), np.zeros(2), ["a", "a"])


def test_state_round_trip_is_exact():
    rng = np.random.default_rng(2)
    knn = KNNClassifier(unit(rng, 5), list("abcab"), k=2, n_base=3, prototype_radius=1.1)
    again = KNNClassifier.from_state(*knn.to_state())
    assert again.labels == knn.labels and again.k == 2 and again.n_base == 3
    assert np.array_equal(again.embeddings, knn.embeddings)
    head = NNHeadClassifier(rng.normal(size=(3, 8)), np.ones(3), list("xyz"), 2,
                            unit(rng, 2), ["z", "x"])
    again = NNHeadClassifier.from_state(*head.to_state())
    assert np.array_equal(again.weight, head.weight) and again.replay_labels == ["z", "x"]


def test_class_means_store_one_unit_mean_per_label_and_keep_the_drawings():
    rng = np.random.default_rng(3)
    base = KNNClassifier(1.1 * unit(rng, 3), ["a", "b", "c"], k=3, n_base=3,
                         prototype_radius=1.1, entries="class_means")
    first = unit(rng, 4)
    one = base.with_entries(first, ["x", "y", "x", "b"])
    assert one.labels == ["a", "b", "c", "x", "y", "b"]  # base prototypes, then one per label
    assert one.n_examples == 4 and one.example_labels == ["x", "y", "x", "b"]
    x_mean = first[0] + first[2]
    assert np.allclose(one.embeddings[3], x_mean / np.linalg.norm(x_mean), atol=1e-6)
    assert np.allclose(np.linalg.norm(one.embeddings[3:], axis=1), 1.0, atol=1e-6)
    # later drawings are averaged with the earlier ones, not added beside them
    more = unit(rng, 1)
    two = one.with_entries(more, ["y"])
    y_mean = first[1] + more[0]
    assert two.labels == one.labels and two.n_examples == 5
    assert np.allclose(two.embeddings[4], y_mean / np.linalg.norm(y_mean), atol=1e-6)
    # the means are plain entries: predictions are Core ML's k-NN over them
    q = unit(rng, 6)
    for row, qq in zip(two.predict_proba(q), q):
        ref = reference_knn(qq, two.embeddings, two.labels, 3)
        assert all(row[j] == pytest.approx(ref.get(c, 0.0), abs=1e-6)
                   for j, c in enumerate(two.classes))
    assert np.array_equal(one.embeddings[3], base.with_entries(first, ["x", "y", "x", "b"]).embeddings[3])


def test_class_means_switch_to_examples_and_back_keeping_every_drawing():
    rng = np.random.default_rng(4)
    base = KNNClassifier(unit(rng, 2), ["a", "b"], n_base=2, entries="class_means")
    means = base.with_entries(unit(rng, 3), ["x", "x", "y"])
    each = means.with_entries(np.zeros((0, 8)), [], entries="examples")
    assert each.entries == "examples" and each.labels == ["a", "b", "x", "x", "y"]
    assert np.array_equal(each.embeddings[2:], means.examples)
    back = each.with_entries(np.zeros((0, 8)), [], entries="class_means")
    assert np.array_equal(back.embeddings, means.embeddings) and back.n_examples == 3


def test_class_means_state_round_trip_is_exact():
    rng = np.random.default_rng(5)
    base = KNNClassifier(unit(rng, 2), ["a", "b"], n_base=2, entries="class_means")
    knn = base.with_entries(unit(rng, 3), ["x", "a", "x"])
    again = KNNClassifier.from_state(*knn.to_state())
    assert again.entries == "class_means" and again.labels == knn.labels
    assert np.array_equal(again.examples, knn.examples) and again.example_labels == ["x", "a", "x"]
    assert np.array_equal(again.embeddings, knn.embeddings)
    with pytest.raises(ValueError):
        KNNClassifier(unit(rng, 2), ["a", "b"], entries="medians")
