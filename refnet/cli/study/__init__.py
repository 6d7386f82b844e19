"""The headline study: how much accuracy each way of training at extreme density loses.

:mod:`~refnet.cli.study.methods` defines the compared methods, :mod:`~refnet.cli.study.runner`
trains them (one process per worker, bitwise reproducible),
:mod:`~refnet.cli.study.report` turns the runs into the talk's table and a plot, and
:mod:`~refnet.cli.study.command` is ``refnet study``.
"""
from refnet.cli.study.methods import DEFAULT_METHODS, METHODS, Context, Method, register
from refnet.cli.study.report import markdown_table, summarize, write_outputs
from refnet.cli.study.runner import (FULL, QUICK, StudyConfig, StudyResult, Task, run_study, run_task,
                     tasks_of)

__all__ = ["DEFAULT_METHODS", "METHODS", "Context", "Method", "register", "markdown_table",
           "summarize", "write_outputs", "FULL", "QUICK", "StudyConfig", "StudyResult", "Task",
           "run_study", "run_task", "tasks_of"]
