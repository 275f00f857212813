"""Periods, pricing, credits and invoices: the evaluator's stage."""

from .lines import PricedLine
from .run import Evaluation, Prepared, evaluate, prepare

__all__ = ["Evaluation", "PricedLine", "Prepared", "evaluate", "prepare"]
