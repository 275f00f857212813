"""Periods, pricing, credits and invoices: the evaluator's stage."""

from .lines import PricedLine
from .run import Evaluation, evaluate

__all__ = ["Evaluation", "PricedLine", "evaluate"]
