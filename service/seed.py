"""A small demo data set for `make run`, written through the use cases like any client write."""

from __future__ import annotations

import logging

from service.domain.commands import CreatePost, CreateUser, ListUsers
from service.domain.models import PostFields, UserFields
from service.handlers.posts import PostHandlers
from service.handlers.users import UserHandlers

log = logging.getLogger("wellspring")

DEMO_USERS = [
    ("ada", "ada@example.com", "Ada Lovelace", "Wrote the first program."),
    ("grace", "grace@example.com", "Grace Hopper", "Found the first bug."),
    ("edsger", "edsger@example.com", "Edsger Dijkstra", "Considered goto harmful."),
    ("barbara", "barbara@example.com", "Barbara Liskov", "Substituted subtypes."),
]
DEMO_POSTS = [
    (
        "ada",
        "Notes on the Analytical Engine",
        "It might act upon other things besides number.",
        ("history", "math"),
    ),
    ("grace", "A moth in the relay", "First actual case of bug being found.", ("history", "debugging")),
    ("grace", "It's easier to ask forgiveness", "...than it is to get permission.", ("culture",)),
    ("edsger", "Go To Statement Considered Harmful", "The quality of programmers...", ("languages",)),
    ("barbara", "Data abstraction", "Types are defined by their behaviour.", ("languages", "design")),
]


async def seed_if_empty(users: UserHandlers, posts: PostHandlers) -> bool:
    existing, _ = await users.list(ListUsers(page_size=1))
    if existing:
        return False
    for user_id, email, name, bio in DEMO_USERS:
        await users.create(CreateUser(UserFields(email, name, bio), user_id=user_id))
    for author, title, body, tags in DEMO_POSTS:
        await posts.create(CreatePost(PostFields(author, title, body, tags)))
    log.info("seeded %d demo users and %d posts", len(DEMO_USERS), len(DEMO_POSTS))
    return True
