"""Baselines: majority, prior and uniform are deterministic and batch-size invariant."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.emotions import BASIC7
from harness.model import Workload
from harness.plugins.baselines import Majority, MajorityOracle, Prior, PriorOracle, Uniform
from harness.types import Request

COUNTS = {"happy": 30, "sad": 10, "neutral": 40, "angry": 10, "surprise": 5, "disgust": 1, "fear": 4}
TEST_COUNTS = {"happy": 50, "sad": 10, "neutral": 20, "angry": 10, "surprise": 5, "disgust": 1, "fear": 4}


def requests(n, choices=BASIC7):
    return [Request(sample_id=f"{i:05d}", frames=None, messages=[], choices=tuple(choices))
            for i in range(n)]


def prepared(cls, run_seed=0, **args):
    model = cls(args)
    model.prepare(Workload(task="t", choices=BASIC7, num_requests=100, class_counts=TEST_COUNTS,
                           seed=run_seed, train_prior=COUNTS, prior_source="train.csv"))
    return model


def answers(model, reqs, batch):
    return [r.text for i in range(0, len(reqs), batch) for r in model.predict(reqs[i:i + batch])]


def test_majority_answers_the_most_frequent_class_of_the_training_data():
    assert set(answers(prepared(Majority), requests(20), 7)) == {"neutral"}  # train: neutral
    assert set(answers(prepared(MajorityOracle), requests(20), 7)) == {"happy"}  # the split itself: happy
    assert MajorityOracle({}).identity()["prior"] == "evaluated split (oracle)"
    tie = Majority({})
    tie.prepare(Workload(task="t", choices=BASIC7, num_requests=2, train_prior={"sad": 3, "fear": 3}))
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


def test_prior_baselines_refuse_a_task_without_training_data_and_name_the_oracle():
    from harness.errors import UsageError
    for cls in (Majority, Prior):
        with pytest.raises(UsageError, match=r"ships no training split.*-oracle"):
            cls({}).prepare(Workload(task="t", choices=BASIC7, num_requests=1, class_counts=TEST_COUNTS))
    oracle = PriorOracle({})
    oracle.prepare(Workload(task="t", choices=BASIC7, num_requests=1, class_counts=TEST_COUNTS))
    got = Counter(answers(oracle, requests(4000), 100))
    assert got["happy"] / 4000 == pytest.approx(0.5, abs=0.03)


def test_release_tasks_give_their_training_prior(tmp_path):
    from harness.context import Context
    from harness.tasks.dfew import DFEWTask
    from harness.tasks.mafw import MAFWTask
    from harness.testing.releases import make_dfew, make_mafw

    make_dfew(tmp_path / "DFEW", media=("video",))
    make_mafw(tmp_path / "MAFW", frames=False)
    ctx = Context(cache_dir=tmp_path / "c", data_dir=tmp_path)
    prior = DFEWTask({}, ctx).training_prior("fold2")
    assert "train(single-labeled)/set_2.csv" in prior.source
    assert sum(prior.counts.values()) == 28 and prior.counts == {c: 4 for c in BASIC7}  # the other 4 folds
    mafw = MAFWTask({}, ctx).training_prior("fold1")
    assert "set_1/train.txt" in mafw.source and sum(mafw.counts.values()) == 44
