"""A lean executor for query operations: each validated document is compiled once into plans
(fields, arguments, result shapes), then run with a plain recursive walk.

graphql-core's executor spends microseconds of bookkeeping on each field, and the fleet listing
resolves about 4,000 fields a page. Results and errors match graphql-core's (same field
collection, argument and variable coercion, null propagation, located errors; a test compares
them). compile_query returns None for what it does not handle (mutations, directives,
introspection, abstract types): the caller then uses graphql-core. Resolvers get an `info` that
carries only `.context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    BREAK,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    Visitor,
    get_operation_ast,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
    visit,
)
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.values import get_argument_values, get_variable_values

LEAF, OBJECT, LIST = 0, 1, 2


class _Unsupported(Exception):
    pass


class _Bubble(Exception):
    """A non-null field came out null: its parent becomes null (the error is already recorded)."""


class Shape:
    """How to complete a value of one GraphQL output type."""

    __slots__ = ("fields", "item", "kind", "non_null", "serialize")

    def __init__(self, non_null: bool, kind: int) -> None:
        self.non_null = non_null
        self.kind = kind
        self.serialize: Any = None
        self.fields: list[FieldPlan] = []
        self.item: Shape | None = None


class FieldPlan:
    __slots__ = (
        "field_def",
        "key",
        "label",
        "name",
        "nodes",
        "resolve",
        "shape",
        "static_args",
        "typename",
    )

    def __init__(self, key: str, name: str, label: str, nodes: list[FieldNode]) -> None:
        self.key = key
        self.name = name
        self.label = label  # "Type.field", for null errors
        self.nodes = nodes
        self.resolve: Any = None
        self.field_def: Any = None
        self.static_args: dict[str, Any] | None = {}  # None: depends on variables
        self.shape: Shape | None = None
        self.typename: str | None = None  # set for __typename


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    fields: list[FieldPlan]


# --- compiling --------------------------------------------------------------------------------


class _DirectiveFinder(Visitor):
    found = False

    def enter_directive(self, *_args: Any) -> Any:
        self.found = True
        return BREAK


def compile_query(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Plan | None:
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return None
    finder = _DirectiveFinder()
    visit(document, finder)
    if finder.found:  # @skip/@include depend on variables: leave them to graphql-core
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    compiler = _Compiler(schema, fragments)
    root = schema.query_type
    assert root is not None
    try:
        grouped = collect_fields(schema, fragments, {}, root, operation.selection_set)
        return Plan(operation, compiler.fields(root, grouped))
    except _Unsupported:
        return None


class _Compiler:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments

    def fields(
        self, parent: GraphQLObjectType, grouped: dict[str, list[FieldNode]]
    ) -> list[FieldPlan]:
        plans = []
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            plan = FieldPlan(key, name, f"{parent.name}.{name}", nodes)
            if name == "__typename":
                plan.typename = parent.name
            elif name.startswith("__"):
                raise _Unsupported(name)
            else:
                plan.field_def = parent.fields[name]
                plan.resolve = plan.field_def.resolve
                plan.shape = self.shape(plan.field_def.type, nodes)
                if not _uses_variables(nodes[0]):
                    plan.static_args = get_argument_values(plan.field_def, nodes[0], {})
                else:
                    plan.static_args = None
            plans.append(plan)
        return plans

    def shape(self, output_type: Any, nodes: list[FieldNode]) -> Shape:
        non_null = is_non_null_type(output_type)
        if non_null:
            output_type = output_type.of_type
        if is_list_type(output_type):
            shape = Shape(non_null, LIST)
            shape.item = self.shape(output_type.of_type, nodes)
        elif is_leaf_type(output_type):
            shape = Shape(non_null, LEAF)
            shape.serialize = output_type.serialize
        elif is_object_type(output_type):
            shape = Shape(non_null, OBJECT)
            grouped = collect_sub_fields(self.schema, self.fragments, {}, output_type, nodes)
            shape.fields = self.fields(output_type, grouped)
        else:
            raise _Unsupported(str(output_type))  # interfaces and unions
        return shape


def _uses_variables(node: FieldNode) -> bool:
    def walk(value: Any) -> bool:
        kind = value.kind
        if kind == "variable":
            return True
        if kind == "list_value":
            return any(walk(v) for v in value.values)
        if kind == "object_value":
            return any(walk(f.value) for f in value.fields)
        return False

    return any(walk(argument.value) for argument in node.arguments or ())


# --- running ----------------------------------------------------------------------------------


class _Info:
    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


def run(
    plan: Plan, schema: GraphQLSchema, context: Any, variables: dict[str, Any] | None
) -> ExecutionResult:
    coerced = get_variable_values(
        schema, plan.operation.variable_definitions or (), variables or {}, max_errors=50
    )
    if isinstance(coerced, list):
        return ExecutionResult(data=None, errors=coerced)
    runner = _Runner(context, coerced)
    try:
        data = runner.fields(plan.fields, None, None)
    except _Bubble:
        data = None
    return ExecutionResult(data=data, errors=runner.errors or None)


class _Runner:
    def __init__(self, context: Any, variables: dict[str, Any]) -> None:
        self.info = _Info(context)
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self._args: dict[int, dict[str, Any]] = {}

    def fields(self, plans: list[FieldPlan], source: Any, path: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        info = self.info
        for plan in plans:
            if plan.typename is not None:
                out[plan.key] = plan.typename
                continue
            field_path = (path, plan.key)
            shape = plan.shape
            assert shape is not None  # planned with the field (Planner.fields)
            try:
                args = plan.static_args if plan.static_args is not None else self.arguments(plan)
                if plan.resolve is not None:
                    value = plan.resolve(source, info, **args)
                elif isinstance(source, dict):
                    value = source.get(plan.name)
                else:
                    value = getattr(source, plan.name, None)
                out[plan.key] = self.complete(shape, value, plan, field_path)
            except _Bubble:
                if shape.non_null:
                    raise
                out[plan.key] = None
            except Exception as exc:  # noqa: BLE001 (any resolver failure is a field error)
                self.fail(exc, plan, field_path)
                if shape.non_null:
                    raise _Bubble from None
                out[plan.key] = None
        return out

    def complete(self, shape: Shape, value: Any, plan: FieldPlan, path: Any) -> Any:
        if value is None:
            if shape.non_null:
                raise GraphQLError(f"Cannot return null for non-nullable field {plan.label}.")
            return None
        kind = shape.kind
        if kind == LEAF:
            serialized = shape.serialize(value)
            if serialized is None:
                raise TypeError(f"Expected {plan.label} to serialize to a non-null value")
            return serialized
        if kind == OBJECT:
            return self.fields(shape.fields, value, path)
        assert shape.item is not None  # every LIST shape is planned with its item
        return self.complete_list(shape.item, value, plan, path)

    def complete_list(self, item: Shape, values: Any, plan: FieldPlan, path: Any) -> list[Any]:
        out = []
        for index, value in enumerate(values):
            item_path = (path, index)
            try:
                out.append(self.complete(item, value, plan, item_path))
            except _Bubble:
                if item.non_null:
                    raise
                out.append(None)
            except Exception as exc:  # noqa: BLE001 (any resolver failure is a field error)
                self.fail(exc, plan, item_path)
                if item.non_null:
                    raise _Bubble from None
                out.append(None)
        return out

    def arguments(self, plan: FieldPlan) -> dict[str, Any]:
        args = self._args.get(id(plan))
        if args is None:
            args = get_argument_values(plan.field_def, plan.nodes[0], self.variables)
            self._args[id(plan)] = args
        return args

    def fail(self, exc: Exception, plan: FieldPlan, path: Any) -> None:
        keys = []
        while path is not None:
            path, key = path
            keys.append(key)
        keys.reverse()
        self.errors.append(located_error(exc, plan.nodes, keys))
