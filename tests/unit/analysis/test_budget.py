"""The budget view on hand-made results with known answers."""

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.aggregate import load_runs
from harness.analysis.budget import best_so_far, budget_table, trial_scores
from harness.store import SuiteFolder


def write_trial(suite: Path, family: str, trial: int, seed: int, fid: float) -> None:
    run_id = f"{family}-t{trial:02d}-s{seed}"
    run = suite / run_id
    run.mkdir(parents=True)
    identity = {"id": run_id, "name": family, "suite": "search", "config_hash": f"{family}{trial}{seed}"}
    (run / "config.json").write_text(json.dumps({**identity, "matrix": {"lr": trial}, "trial": trial, "dataset": "mnist",
                                                 "model": "mlp_gan", "seed": seed, "mixed_precision": "no",
                                                 "training": {"epochs": 1}, "model_options": {}}))
    (run / "run.json").write_text(json.dumps({**identity, "status": "completed", "epochs": 1}))
    (run / "metrics_row.json").write_text(json.dumps({**identity, "model": "mlp_gan", "seed": seed, "fid": fid}))


@pytest.fixture
def searched(tmp_path) -> Path:
    suite = tmp_path / "search"
    # gan: trial means 5, 3, 4, 1 (trial 1 from seeds 2 and 4); vae: every trial scores 2
    for trial, seeds in enumerate([(5, 5), (2, 4), (4, 4), (1, 1)]):
        for seed, fid in enumerate(seeds):
            write_trial(suite, "gan", trial, seed, fid)
    for trial in range(3):
        write_trial(suite, "vae", trial, 0, 2.0)
    return suite


def test_trial_scores_are_configuration_means_in_trial_order(searched):
    scores = trial_scores(load_runs(SuiteFolder(searched)), "fid")
    assert scores["gan"].tolist() == [5, 3, 4, 1] and scores["vae"].tolist() == [2, 2, 2]


def test_best_so_far_equals_the_exact_expectation_over_all_orders(searched):
    table = budget_table(load_runs(SuiteFolder(searched)), "fid")
    gan = table[table["family"] == "gan"].set_index("budget")
    # E[min of the first k of {5, 3, 4, 1}]: k=1 the mean 13/4; k=2 the 6 pairs' minima 1,1,1,3,3,4 -> 13/6;
    # k=3 the 4 triples' minima 3,1,1,1 -> 6/4; k=4 the minimum 1
    assert gan["mean"].tolist() == pytest.approx([13 / 4, 13 / 6, 6 / 4, 1])
    assert gan["in_trial_order"].tolist() == [5, 3, 3, 1]
    assert gan.loc[4, "low"] == gan.loc[4, "high"] == 1  # all trials tried: no spread left
    assert gan.loc[1, "low"] < gan.loc[1, "high"]
    vae = table[table["family"] == "vae"]
    assert (vae[["mean", "low", "high"]] == 2).all().all()


def test_bootstrap_orders_for_many_trials_match_the_known_expectation():
    """min of the first k of 1..N in random order has expectation (N + 1) / (k + 1)."""
    n = 12
    curve = best_so_far(np.arange(1.0, n + 1), lower_is_better=True, seed=3)
    expected = [(n + 1) / (k + 1) for k in range(1, n + 1)]
    assert curve["mean"].tolist() == pytest.approx(expected, abs=0.25)
    higher = best_so_far(np.arange(1.0, n + 1), lower_is_better=False, seed=3)
    assert higher["mean"].iloc[-1] == n and higher["in_trial_order"].tolist() == list(np.arange(1.0, n + 1))


def test_the_report_shows_the_budget_view(searched):
    from harness import pipeline

    (searched / "suite.toml").write_text(
        '[suite]\nname = "search"\ndataset = "mnist"\nseeds = [0, 1]\n\n[search]\nsamples = 4\n'
        'lr = { log_uniform = [1e-5, 1e-3] }\n\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n')
    page = pipeline.write_report(searched, log=lambda _: None).read_text()
    assert "<h2>Search budget" in page and "best of 4" in page and "best of 2" in page
    assert (searched / "charts" / "search_budget.png").exists()
    markdown = (searched / "report.md").read_text()
    assert "| gan " in markdown and "1 [1, 1]" in markdown  # after all 4 trials: the best, no spread


def test_a_chosen_trials_later_seeds_do_not_change_its_search_score():
    """With `select`, the best trial has seeds 0-2 and the others seed 0 only: every trial is
    scored on the seed all of them have, so a good seed 0 followed by worse seeds still counts."""
    import pandas as pd

    runs = pd.DataFrame({"name": ["a"] * 5, "configuration": ["a-t0", "a-t1", "a-t1", "a-t1", "a-t2"],
                         "trial": [0, 1, 1, 1, 2], "seed": [0, 0, 1, 2, 0], "status": ["completed"] * 5,
                         "fid": [5.0, 1.0, 9.0, 9.0, 3.0]})
    assert trial_scores(runs, "fid")["a"].tolist() == [5.0, 1.0, 3.0]  # not (1 + 9 + 9) / 3 for a-t1
