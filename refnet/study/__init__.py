"""The headline study: how much accuracy each way of training at extreme density loses.

:mod:`~refnet.study.methods` defines the compared methods, :mod:`~refnet.study.runner`
trains them (one process per worker, bitwise reproducible),
:mod:`~refnet.study.report` turns the runs into the talk's table and a plot, and
:mod:`~refnet.study.command` is ``refnet study``.
"""
from .methods import DEFAULT_METHODS, METHODS, Context, Method, register
from .report import markdown_table, summarize, write_outputs
from .runner import (FULL, QUICK, StudyConfig, StudyResult, Task, run_study, run_task,
                     tasks_of)

__all__ = ["DEFAULT_METHODS", "METHODS", "Context", "Method", "register", "markdown_table",
           "summarize", "write_outputs", "FULL", "QUICK", "StudyConfig", "StudyResult", "Task",
           "run_study", "run_task", "tasks_of"]
