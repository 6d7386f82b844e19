"""``refnet study``, the headline study: :mod:`~refnet.cli.study.methods` (the compared methods),
:mod:`~refnet.cli.study.runner` (their trainings), :mod:`~refnet.cli.study.report` (the table
and plot), :mod:`~refnet.cli.study.store` (finished runs, kept for a rerun),
:mod:`~refnet.cli.study.command` (the command)."""
from refnet.cli.study.methods import DEFAULT_METHODS, METHODS, Context, Method, register
from refnet.cli.study.report import markdown_table, summarize, write_outputs
from refnet.cli.study.runner import (FULL, QUICK, StudyConfig, StudyResult, Task, run_study,
                                     run_task, tasks_of)

__all__ = ["DEFAULT_METHODS", "METHODS", "Context", "Method", "register", "markdown_table",
           "summarize", "write_outputs", "FULL", "QUICK", "StudyConfig", "StudyResult", "Task",
           "run_study", "run_task", "tasks_of"]
