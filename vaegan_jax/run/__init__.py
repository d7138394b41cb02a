"""Running a job: training, evaluating, sampling, exporting, the checks
before any of them, and what the command-line tools share."""
