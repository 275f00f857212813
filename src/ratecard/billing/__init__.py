"""Periods, pricing, credits and invoices: the evaluator's stage."""

from .evaluate import Evaluation, PricedLine, evaluate

__all__ = ["Evaluation", "PricedLine", "evaluate"]
