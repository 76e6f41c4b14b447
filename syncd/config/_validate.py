"""JSON Schema validation of a config document, with errors a person can act on.

The schemas are compiled once per process; :mod:`syncd.config._schema_errors`
explains each jsonschema error as one short message at its YAML position.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from jsonschema import Draft202012Validator

from syncd._resources import load_schema
from syncd.config._errors import Problem
from syncd.config._schema_errors import Explainer, suggest
from syncd.config._yaml import YamlDoc

__all__ = ["suggest", "validate_document", "validate_with"]


@cache
def _validator(kind: str) -> Draft202012Validator:
    # The shipped schemas are checked against the metaschema by the tests
    # (tests/config/test_schemas.py); doing it here would cost every process
    # start a tenth of a second.
    return Draft202012Validator(load_schema(kind))


def validate_document(kind: str, doc: YamlDoc) -> list[Problem]:
    """Every schema error in *doc*, as problems (unsorted, deduplicated)."""
    return validate_with(_validator(kind), doc)


def validate_with(validator: Draft202012Validator, doc: YamlDoc) -> list[Problem]:
    schema = validator.schema
    explainer = Explainer(doc, schema if isinstance(schema, Mapping) else {})
    for error in validator.iter_errors(doc.data):
        explainer.explain(error)
    return explainer.result()
