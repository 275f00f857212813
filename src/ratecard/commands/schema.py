"""`ratecard schema`: the JSON Schema of the compiled rating plan, from pydantic."""

from __future__ import annotations

import json
import sys

from ..model import RatingPlan
from .common import EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the rating plan's JSON Schema",
                       description="Print the JSON Schema of the compiled rating plan (what `ratecard "
                                   "compile` prints), generated from its pydantic model.")
    p.set_defaults(run=run)


def run(args) -> int:
    schema = RatingPlan.model_json_schema(mode="serialization")
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return EXIT_OK
