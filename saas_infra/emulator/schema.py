"""The executable schema: the hand-written SDL subset (schema.graphql) with resolvers attached.

Built once per process and shared by every Emulator: resolvers keep no state of their own, they
read everything from the request context. Modules that model one area (instances, regions,
volumes, triggers, rollbacks) bring their own resolver maps; a later map may replace an earlier field's resolver.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from graphql import GraphQLObjectType, GraphQLSchema, build_schema

from . import instances, regions, rollbacks, triggers, volumes
from .mutations import MUTATION
from .resolvers import QUERY, TYPES

_AREAS = (
    instances.RESOLVERS,
    {"Query": {"regions": regions.q_regions}},
    volumes.RESOLVERS,
    triggers.RESOLVERS,
    rollbacks.RESOLVERS,
)


def sdl() -> str:
    return resources.files(__package__).joinpath("schema.graphql").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def executable_schema() -> GraphQLSchema:
    schema = build_schema(sdl())
    for resolver_map in ({**TYPES, "Query": QUERY, "Mutation": MUTATION}, *_AREAS):
        for type_name, resolvers in resolver_map.items():
            object_type = schema.get_type(type_name)
            assert isinstance(object_type, GraphQLObjectType), type_name
            for field_name, resolve in resolvers.items():
                object_type.fields[field_name].resolve = resolve  # KeyError: SDL and code disagree
    return schema
