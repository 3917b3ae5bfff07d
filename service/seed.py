"""A small demo data set for `make run`, written through the use cases like any client write."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from service.domain.commands import CreateItem, ListItems
from service.domain.models import CommentFields, PostFields, UserFields
from service.handlers.resource import ResourceHandlers

log = logging.getLogger("wellspring")

DEMO_USERS = [
    ("ada", "ada@example.com", "Ada Lovelace", "Wrote the first program."),
    ("grace", "grace@example.com", "Grace Hopper", "Found the first bug."),
    ("edsger", "edsger@example.com", "Edsger Dijkstra", "Considered goto harmful."),
    ("barbara", "barbara@example.com", "Barbara Liskov", "Substituted subtypes."),
]
DEMO_POSTS = [
    (
        "notes",
        "ada",
        "Notes on the Analytical Engine",
        "It might act upon other things besides number.",
        ("history", "math"),
    ),
    (
        "moth",
        "grace",
        "A moth in the relay",
        "First actual case of bug being found.",
        ("history", "debugging"),
    ),
    (
        "forgiveness",
        "grace",
        "It's easier to ask forgiveness",
        "...than it is to get permission.",
        ("culture",),
    ),
    ("goto", "edsger", "Go To Statement Considered Harmful", "The quality of programmers...", ("languages",)),
    (
        "abstraction",
        "barbara",
        "Data abstraction",
        "Types are defined by their behaviour.",
        ("languages", "design"),
    ),
]
DEMO_COMMENTS = [
    ("moth", "ada", "Taped into the logbook, I hear."),
    ("goto", "grace", "Structured, but is it readable?"),
    ("abstraction", "edsger", "Hear, hear."),
]


async def seed_if_empty(resources: Mapping[str, ResourceHandlers[Any, Any]]) -> bool:
    users, posts, comments = resources["users"], resources["posts"], resources["comments"]
    existing, _ = await users.list_items(ListItems(page_size=1))
    if existing:
        return False
    for user_id, email, name, bio in DEMO_USERS:
        await users.create(CreateItem(UserFields(email, name, bio), chosen_id=user_id))
    for post_id, author, title, body, tags in DEMO_POSTS:
        await posts.create(CreateItem(PostFields(author, title, body, tags), chosen_id=post_id))
    for post_id, author, body in DEMO_COMMENTS:
        await comments.create(CreateItem(CommentFields(post_id, author, body)))
    log.info(
        "seeded %d demo users, %d posts and %d comments", len(DEMO_USERS), len(DEMO_POSTS), len(DEMO_COMMENTS)
    )
    return True
