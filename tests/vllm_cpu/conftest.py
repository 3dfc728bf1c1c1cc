"""Order of the vLLM CPU stage: the engines' tests (grouped by family, one engine each), then the killed run
and its resume (an engine of its own), the Qwen2.5-Omni thinker with sound (another), the server's tests,
and last the check of the docs table against what ran."""

from __future__ import annotations

import pytest

LATER = {"test_a_killed_engine_run_resumes_from_the_cache": 1,
         "test_the_omni_thinker_hears_each_clip_through_the_engine": 2,
         "test_the_served_twin_answers_the_video_dialect_in_both_modes": 3,
         "test_the_docs_table_says_what_this_stage_ran_and_passed": 4}


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by engine
def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: LATER.get(getattr(item, "originalname", item.name), 0))  # stable: the rest keep order
