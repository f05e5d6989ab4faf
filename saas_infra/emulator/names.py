"""Railway-shaped ids and generated names (project names, service domains), from the emulator's
seeded random generator so that a seed replays the same world. A leaf: imports nothing of ours.
"""

from __future__ import annotations

import random
import string
import uuid

_ADJECTIVES = (
    "humble",
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "jolly",
    "kind",
    "lively",
    "merry",
    "nimble",
    "proud",
    "quiet",
    "sunny",
    "tidy",
    "vivid",
    "witty",
    "zesty",
    "bold",
    "cosmic",
)
_NOUNS = (
    "expression",
    "meadow",
    "river",
    "harbor",
    "lantern",
    "orchard",
    "canyon",
    "comet",
    "forest",
    "island",
    "journey",
    "kettle",
    "lagoon",
    "mountain",
    "nebula",
    "pebble",
    "quartz",
    "summit",
)


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_chars(rng: random.Random, count: int, alphabet: str = string.ascii_lowercase) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def two_words(rng: random.Random) -> str:
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}"
