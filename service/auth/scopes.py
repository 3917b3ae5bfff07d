"""The one table of which scope each method needs. A method is known by its verb (the API's naming rules,
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
