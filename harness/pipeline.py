"""The library entry point: what the CLI, notebooks, tests and benchmarks call.

    suite = load("suites/quickstart.toml")              # validate and expand (no torch)
    outcome = run_suite("suites/quickstart.toml", "results", data_dir="../shared/data")
    board = leaderboard("results/quickstart")           # seed-aggregated table
    write_report("results/quickstart")                  # report.md, report.html, charts/

Data flow: suite -> plan (what to train, what is done) -> strategy (who does what) ->
trainer -> results store -> evaluation -> aggregate -> leaderboard / report. The calls live in
harness/workflow/ (plan, train, evaluate, status, results); this module only names them, so
that a user's script has one import. Heavy modules (torch, accelerate) are imported inside the
calls that train or evaluate.
"""

from harness.workflow.evaluate import EvaluationOutcome, evaluate_results, metric_columns, metric_families
from harness.workflow.plan import Plan, ignored_launcher_precision, load, plan_suite, validate
from harness.workflow.results import Leaderboard, chart, compare, leaderboard, load_results, write_report
from harness.workflow.score import ScoreOutcome, score_samples
from harness.workflow.status import RunState, status
from harness.workflow.train import SuiteOutcome, make_strategy, run_suite, submit_suite

__all__ = ["EvaluationOutcome", "Leaderboard", "Plan", "RunState", "ScoreOutcome", "SuiteOutcome", "chart", "compare", "evaluate_results",
           "ignored_launcher_precision", "leaderboard", "load", "load_results", "make_strategy", "metric_columns",
           "metric_families", "plan_suite", "run_suite", "score_samples", "status", "submit_suite", "validate", "write_report"]
