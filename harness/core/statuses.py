"""The words a run's status is said in: in run records, launch summaries, `status` and the leaderboard."""

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_DIVERGED = "diverged"
STATUS_INTERRUPTED = "interrupted"  # stopped by a signal; its checkpoint resumes it
STATUS_UNREADABLE = "unreadable"  # not in a record: a reader's word for a run whose files are corrupt
STATUS_SKIPPED = "skipped"  # not in a record: a launch's word for a run complete from an earlier launch
STATUS_ELSEWHERE = "running elsewhere"  # claimed by another launch on the same results folder
