"""Choosing the route from the classifier's probabilities (no model needed)."""

from __future__ import annotations

import types

import pytest
from pydantic import ValidationError

from optillm_core import ApproachError
from optillm_router import LABELS, RouterConfig
from optillm_router.routing import choose, ranked

ALL = frozenset({"tools", "response_format", "stop", "seed", "images", "logprobs"})


def approach(*features: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(features=frozenset(features))


def probabilities(**given: float) -> list[float]:
    return [given.get(label, 0.0) for label in LABELS]


def test_most_probable_installed_label_wins() -> None:
    available = {"none": approach(*ALL), "moa": approach(), "bon": approach()}
    route = choose(probabilities(moa=0.6, bon=0.3, none=0.1), available, set())
    assert (route.slug, route.header, route.detail) == ("moa", "moa;p=0.60", "moa p=0.60")


def test_missing_labels_fall_through_in_probability_order() -> None:
    available = {"none": approach(*ALL), "bon": approach(), "leap": approach()}
    route = choose(probabilities(mcts=0.5, leap=0.2, bon=0.25, none=0.05), available, set())
    assert route.slug == "bon"
    assert route.detail == "bon p=0.25 (skipped mcts p=0.50: not installed)"


def test_code_executing_label_is_never_routed_to() -> None:
    available = {"none": approach(*ALL), "z3": approach(*ALL), "re2": approach()}
    route = choose(probabilities(z3=0.7, re2=0.2, none=0.1), available, set())
    assert route.slug == "re2"
    assert "z3 p=0.70: executes code" in route.detail


def test_label_without_a_requested_feature_is_passed_over() -> None:
    available = {"none": approach(*ALL), "moa": approach("stop")}
    route = choose(probabilities(moa=0.9, none=0.1), available, {"tools", "stop"})
    assert route.slug == "none"
    assert route.detail == "none p=0.10 (skipped moa p=0.90: does not support tools)"


def test_ties_keep_the_label_order_and_nothing_runnable_is_an_error() -> None:
    assert [label for label, _ in ranked([1.0] * len(LABELS))] == list(LABELS)
    with pytest.raises(ApproachError):
        choose(probabilities(moa=1.0), {"router": approach(*ALL)}, set())
    with pytest.raises(ApproachError):
        ranked([0.5, 0.5])


@pytest.mark.parametrize("fallback", ["router", "z3", "Not A Slug"])
def test_fallback_must_be_another_routable_slug(fallback: str) -> None:
    with pytest.raises(ValidationError):
        RouterConfig(fallback=fallback)
    assert RouterConfig(fallback=" bon ").fallback == "bon"
