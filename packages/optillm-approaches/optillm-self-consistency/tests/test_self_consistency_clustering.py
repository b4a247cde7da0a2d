"""Clustering by extracted answer, with whole-text similarity as the fallback."""

from __future__ import annotations

from optillm_self_consistency.clustering import answer_keys, cluster, winner


def test_keys_come_from_the_final_answer_not_the_wording() -> None:
    texts = ["so the answer is 42", "42 is it: \\boxed{42}", "I think 41", "The answer: 42."]
    assert answer_keys(texts, "math", question="What is 6 times 7?") == ["42", "42", "41", "42"]


def test_text_kind_turns_extraction_off() -> None:
    assert answer_keys(["the answer is 42"], "text") == [None]


def test_keyed_samples_group_by_key_and_keyless_ones_by_similarity() -> None:
    texts = ["x 42", "Blue sky.", "y 41", "z 42", "Blue sky!", "Green"]
    keys = ["42", None, "41", "42", None, None]
    groups = cluster(texts, keys, threshold=0.8)
    assert [(g.key, g.members) for g in groups] == [
        ("42", [0, 3]),
        (None, [1, 4]),
        ("41", [2]),
        (None, [5]),
    ]


def test_a_keyless_sample_never_joins_a_keyed_cluster() -> None:
    groups = cluster(["42", "42"], ["42", None], threshold=0.0)
    assert [g.members for g in groups] == [[0], [1]]


def test_threshold_controls_similarity_grouping() -> None:
    texts = ["Rome is the capital.", "Rome is the capital!", "Rome is a capital"]
    assert len(cluster(texts, [None] * 3, threshold=0.8)) == 1
    assert len(cluster(texts, [None] * 3, threshold=1.0)) == 3


def test_winner_is_the_largest_cluster_and_the_earliest_on_ties() -> None:
    groups = cluster(["a 1", "b 2", "c 2", "d 1"], ["1", "2", "2", "1"], threshold=0.8)
    assert winner(groups).key == "1"
    groups = cluster(["a 1", "b 2", "c 2"], ["1", "2", "2"], threshold=0.8)
    assert winner(groups).key == "2"
    assert winner(groups).representative == 1
