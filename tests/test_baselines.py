"""Baselines: majority, prior and uniform are deterministic and batch-size invariant."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.emotions import BASIC7
from harness.model import Workload
from harness.plugins.baselines import Majority, Prior, Uniform
from harness.types import Request

COUNTS = {"happy": 30, "sad": 10, "neutral": 40, "angry": 10, "surprise": 5, "disgust": 1, "fear": 4}


def requests(n, choices=BASIC7):
    return [Request(sample_id=f"{i:05d}", frames=None, messages=[], choices=tuple(choices))
            for i in range(n)]


def prepared(cls, run_seed=0, **args):
    model = cls(args)
    model.prepare(Workload(task="t", choices=BASIC7, num_requests=100, class_counts=COUNTS,
                           seed=run_seed))
    return model


def answers(model, reqs, batch):
    return [r.text for i in range(0, len(reqs), batch) for r in model.predict(reqs[i:i + batch])]


def test_majority_answers_the_most_frequent_class_of_the_split():
    assert set(answers(prepared(Majority), requests(20), 7)) == {"neutral"}
    tie = Majority({})
    tie.prepare(Workload(task="t", choices=BASIC7, num_requests=2, class_counts={"sad": 3, "fear": 3}))
    # Ties go to the class listed first by the task, even if the prompt shuffles choices.
    assert tie.predict(requests(1, choices=reversed(BASIC7)))[0].text == "sad"


@pytest.mark.parametrize("cls", [Prior, Uniform])
def test_random_baselines_are_seeded_per_sample_and_batch_invariant(cls):
    reqs = requests(200)
    one = answers(prepared(cls, run_seed=1), reqs, 1)
    assert one == answers(prepared(cls, run_seed=1), reqs, 64)
    assert answers(prepared(cls, run_seed=1), reqs[::-1], 5)[::-1] == one
    assert one != answers(prepared(cls, run_seed=2), reqs, 1)


def test_explicit_seed_argument_wins_over_the_run_seed():
    reqs = requests(50)
    explicit = prepared(Uniform, run_seed=5, seed=9)
    assert explicit.seed == 9 and explicit.identity()["args"] == {"seed": 9}
    assert answers(explicit, reqs, 10) == answers(prepared(Uniform, run_seed=9), reqs, 10)


def test_prior_follows_the_class_distribution():
    got = Counter(answers(prepared(Prior), requests(5000), 100))
    for c, k in COUNTS.items():
        assert got[c] / 5000 == pytest.approx(k / 100, abs=0.025)


def test_uniform_spreads_over_all_classes():
    got = Counter(answers(prepared(Uniform), requests(3500), 100))
    assert set(got) == set(BASIC7)
    assert max(got.values()) - min(got.values()) < 150


def test_unknown_model_arguments_are_refused():
    from harness.errors import UsageError
    with pytest.raises(UsageError, match="temperature"):
        Uniform({"temperature": 0.5})
