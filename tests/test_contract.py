"""Contract with Railway's published schema: our documents are valid against it, and the
emulator's hand-written SDL is a faithful subset of it (same names, same type strings).

The real schema lives beside the checkout (../shared/railway/schema.graphql). Without it these
tests skip, except under CI (env CI set), where its absence is a failure.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    is_required_argument,
    is_required_input_field,
    parse,
    validate,
)

from saas_infra.emulator.schema import sdl
from saas_infra.railway.operations import ALL_OPERATIONS

REAL_SCHEMA = Path(__file__).resolve().parents[2] / "shared/railway/schema.graphql"


@lru_cache(maxsize=1)
def real_schema() -> GraphQLSchema:
    if not REAL_SCHEMA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Railway's schema is missing: {REAL_SCHEMA}")
        pytest.skip(f"Railway's schema is not beside the checkout: {REAL_SCHEMA}")
    return build_schema(REAL_SCHEMA.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def emulator_schema() -> GraphQLSchema:
    return build_schema(sdl())


def _named_types(schema: GraphQLSchema) -> dict:
    return {name: t for name, t in schema.type_map.items() if not name.startswith("__")}


@pytest.mark.parametrize("operation", ALL_OPERATIONS, ids=lambda op: op.name)
def test_operation_is_valid_against_railways_schema(operation) -> None:
    errors = validate(real_schema(), parse(operation.document))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("operation", ALL_OPERATIONS, ids=lambda op: op.name)
def test_operation_is_valid_against_the_emulator(operation) -> None:
    errors = validate(emulator_schema(), parse(operation.document))
    assert not errors, [e.message for e in errors]


def test_every_emulator_type_exists_in_railways_schema_with_the_same_kind() -> None:
    real = _named_types(real_schema())
    for name, ours in _named_types(emulator_schema()).items():
        assert name in real, f"type {name} is not in Railway's schema"
        assert type(ours) is type(real[name]), f"{name} is a {type(real[name]).__name__} at Railway"


def test_every_field_and_argument_has_railways_type() -> None:
    real = _named_types(real_schema())
    problems = []
    for name, ours in _named_types(emulator_schema()).items():
        if not isinstance(ours, GraphQLObjectType | GraphQLInterfaceType):
            continue
        theirs = real[name]
        interfaces = {i.name for i in theirs.interfaces}
        problems += [
            f"{name} implements {i.name}" for i in ours.interfaces if i.name not in interfaces
        ]
        for field_name, field in ours.fields.items():
            their_field = theirs.fields.get(field_name)
            if their_field is None:
                problems.append(f"{name}.{field_name} does not exist")
                continue
            if str(field.type) != str(their_field.type):
                problems.append(f"{name}.{field_name}: {field.type} != {their_field.type}")
            problems += _argument_problems(f"{name}.{field_name}", field.args, their_field.args)
    assert not problems, problems


def _argument_problems(where: str, ours: dict, theirs: dict) -> list[str]:
    problems = []
    for arg_name, arg in ours.items():
        their_arg = theirs.get(arg_name)
        if their_arg is None:
            problems.append(f"{where}({arg_name}) does not exist")
        elif str(arg.type) != str(their_arg.type) or arg.default_value != their_arg.default_value:
            problems.append(
                f"{where}({arg_name}): {arg.type} = {arg.default_value!r}"
                f" at Railway: {their_arg.type} = {their_arg.default_value!r}"
            )
    # Leaving out an argument Railway requires would let an invalid document pass the emulator.
    problems += [
        f"{where}({arg_name}) is required at Railway but missing"
        for arg_name, arg in theirs.items()
        if is_required_argument(arg) and arg_name not in ours
    ]
    return problems


def test_every_input_field_has_railways_type_and_default() -> None:
    real = _named_types(real_schema())
    problems = []
    for name, ours in _named_types(emulator_schema()).items():
        if not isinstance(ours, GraphQLInputObjectType):
            continue
        theirs = real[name].fields
        for field_name, field in ours.fields.items():
            their_field = theirs.get(field_name)
            if their_field is None:
                problems.append(f"{name}.{field_name} does not exist")
            elif (
                str(field.type) != str(their_field.type)
                or field.default_value != their_field.default_value
            ):
                problems.append(
                    f"{name}.{field_name}: {field.type} = {field.default_value!r}"
                    f" at Railway: {their_field.type} = {their_field.default_value!r}"
                )
        problems += [
            f"{name}.{field_name} is required at Railway but missing"
            for field_name, field in theirs.items()
            if is_required_input_field(field) and field_name not in ours.fields
        ]
    assert not problems, problems


def test_every_enum_value_exists_at_railway() -> None:
    real = _named_types(real_schema())
    for name, ours in _named_types(emulator_schema()).items():
        if isinstance(ours, GraphQLEnumType):
            missing = set(ours.values) - set(real[name].values)
            assert not missing, f"{name} has values Railway does not: {sorted(missing)}"


def test_emulator_declares_railways_opaque_scalars() -> None:
    scalars = {
        n for n, t in _named_types(emulator_schema()).items() if isinstance(t, GraphQLScalarType)
    }
    custom = {
        "DateTime",
        "JSON",
        "EnvironmentVariables",
        "SerializedTemplateConfig",
        "EnvironmentConfig",
        "DeploymentMeta",
    }
    assert custom <= scalars
