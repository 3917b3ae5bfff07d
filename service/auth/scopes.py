"""The one table of which scope each method needs, and what a call of it costs of its caller's rate
limit. A method is known by its verb (the API's naming rules,
DESIGN §2: ``GetUser``, ``ListPosts``, ``ImportComments``, ``Watch``…), so a new collection needs no line
here. Health is open; reflection is open when the server offers it (``Settings.reflection``); any other
method needs ``admin``, so a method nobody thought of fails closed."""

from __future__ import annotations

READ, WRITE, IMPORT, ADMIN = "read", "write", "import", "admin"

# Verb -> scope. The longest verb is tried first ("BatchGet" before "Get").
BY_VERB: dict[str, str] = {
    "Get": READ,
    "BatchGet": READ,
    "List": READ,
    "Export": READ,
    "Watch": READ,
    "Create": WRITE,
    "Update": WRITE,
    "Delete": WRITE,
    "Import": IMPORT,
}
# Verb -> the call's cost in rate-limit units: a Get is 1, a page or a batch more, a stream's opening more
# again; each request message of an Import costs IMPORT_MESSAGE_COST besides. Health and reflection: 1.
COST_BY_VERB: dict[str, int] = {
    "Get": 1,
    "BatchGet": 5,
    "List": 5,
    "Export": 20,
    "Watch": 10,
    "Create": 2,
    "Update": 2,
    "Delete": 2,
    "Import": 2,
}
IMPORT_MESSAGE_COST = 10
_VERBS = sorted(BY_VERB, key=len, reverse=True)
OPEN_SERVICES = ("grpc.health.v1.Health",)
REFLECTION_SERVICES = ("grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")
OUR_PACKAGE = "wellspring.v1."


def required_scope(method: str, *, reflection_open: bool) -> str | None:
    """The scope a call of ``method`` (``/package.Service/Method``) needs; None: it is open."""
    service, _, name = method.lstrip("/").partition("/")
    if service in OPEN_SERVICES or (reflection_open and service in REFLECTION_SERVICES):
        return None
    if service.startswith(OUR_PACKAGE):
        for verb in _VERBS:
            if name.startswith(verb):
                return BY_VERB[verb]
    return ADMIN


def _verb(method: str) -> str | None:
    service, _, name = method.lstrip("/").partition("/")
    if service.startswith(OUR_PACKAGE):
        return next((verb for verb in _VERBS if name.startswith(verb)), None)
    return None


def call_cost(method: str) -> int:
    """What one call of ``method`` costs of its caller's rate limit (1 for a method not in the table)."""
    verb = _verb(method)
    return COST_BY_VERB[verb] if verb else 1


def message_cost(method: str) -> int:
    """What each request message of a client stream costs besides (an Import's; 0 for other methods)."""
    return IMPORT_MESSAGE_COST if _verb(method) == "Import" else 0
