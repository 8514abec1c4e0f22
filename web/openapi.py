"""An OpenAPI 3.1 description of the HTTP API, made from the routes themselves, served at
``GET /api/openapi.json`` (``docs/operations.md``, ``docs/design/0036-openapi-and-fuzzing.md``).

Nothing here is written per route, so the description cannot drift from the code:

* every ``Route`` under ``/api`` is an operation per method (HEAD aside), its path parameters
  typed from Starlette's convertors (``{id:int}`` is an integer);
* the request body is the ``msgspec`` struct the handler decodes (``decode_body(request, Body)``
  or ``decode(raw, Body)``), found by reading the handler's source and the module functions it
  calls (``_notice_body``, ``_move``), and described by ``msgspec.json.schema_components``; an
  upload (``accept_upload``) is ``application/octet-stream``;
* query parameters are the literal names the handler reads from ``request.query_params``;
* errors are the one shape every handler answers with (``web/http.py``): ``{"error": {"code",
  "message", ...}}``, the code one of ``HttpCode``. Success bodies are not described (they are
  ``docs/protocol.md``'s), so a client generator gets the inputs and the errors exactly, and the
  outputs as free-form JSON.

What the source reading cannot see (a body decoded in a helper of another module, a query
parameter read by a helper such as ``audit_query``) is simply absent: the operation is still
listed, and ``tests/unit/test_openapi.py`` checks that every handler that decodes a struct has
it described.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from web import MAX_PATH_ID
from web.http import HttpCode

OPENAPI_PATH = "/api/openapi.json"
_PARAM_RE = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?}")
_CONVERTOR_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_PATH_ID},
    "float": {"type": "number", "minimum": 0},
    "str": {"type": "string", "pattern": "^[^/]+$"},
    "path": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
}
#: The functions whose second argument is the request body's struct (web/http.py).
_DECODERS = {"decode_body", "decode"}
#: Generic containers a body may be decoded as (``decode_body(request, dict[str, str])``).
_GENERICS: dict[str, Any] = {"dict": dict, "list": list}
#: How deep the source reading follows calls into the handler's own module.
_DEPTH = 3

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [code.value for code in HttpCode]},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "retry_after": {"type": "integer"},
            },
        }
    },
}


class _Reading:
    """What the source of a handler (and of the module functions it calls) shows."""

    def __init__(self) -> None:
        #: The types the body is decoded as: msgspec structs, or a generic such as
        #: ``dict[str, str]``.
        self.bodies: list[Any] = []
        self.query: list[str] = []
        self.upload = False


def _source_tree(fn: Callable[..., Any]) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def _is_query_params(node: ast.AST, aliases: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "query_params":
        return True
    return isinstance(node, ast.Name) and node.id in aliases


def _read(fn: Callable[..., Any], out: _Reading, depth: int, seen: set[int]) -> None:
    if depth > _DEPTH or id(fn) in seen:
        return
    seen.add(id(fn))
    tree = _source_tree(fn)
    if tree is None:
        return
    names: dict[str, Any] = getattr(fn, "__globals__", {})
    module = getattr(fn, "__module__", None)
    aliases = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and _is_query_params(node.value, set())
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_query_params(node.value, aliases):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                out.query.append(node.slice.value)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in {"get", "getlist"}:
            if _is_query_params(func.value, aliases) and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    out.query.append(first.value)
            continue
        if not isinstance(func, ast.Name):
            continue
        if func.id in _DECODERS and len(node.args) >= 2:
            body = _type_of(node.args[1], names)
            if body is not None:
                out.bodies.append(body)
        elif func.id == "accept_upload":
            out.upload = True
        else:
            called = names.get(func.id)
            if inspect.isfunction(called) and called.__module__ == module:
                _read(called, out, depth + 1, seen)


def _type_of(node: ast.expr, names: dict[str, Any]) -> Any:
    """The type an argument names (``Body``, ``dict[str, str]``) in the handler's module, or
    None when it is anything else (a variable)."""
    if isinstance(node, ast.Name):
        found = names.get(node.id)
        return found if isinstance(found, type) else None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        scope = {**_GENERICS, **names}
        if scope.get(node.value.id) in _GENERICS.values():
            try:
                # The handler's own type expression, evaluated in its module's names.
                return eval(compile(ast.Expression(node), "<body>", "eval"), scope)
            except Exception:
                return None
    return None


def reading(endpoint: Callable[..., Any]) -> _Reading:
    """What the handler's source shows: the body struct(s) it decodes, the query parameters it
    reads, whether it takes an upload."""
    out = _Reading()
    _read(endpoint, out, 0, set())
    return out


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str, Route]]:
    """(path, method, route) of every HTTP API operation, HEAD aside."""
    for route in routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    yield route.path, method, route


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", _PARAM_RE.sub(r"\1", path)).strip("_")
    return f"{method.lower()}_{words}"


def describe(routes: Sequence[BaseRoute], *, version: str) -> dict[str, Any]:
    """The OpenAPI document of ``routes``."""
    readings = {id(route): reading(route.endpoint) for _, _, route in api_routes(routes)}
    structs = {
        body
        for r in readings.values()
        for body in r.bodies
        if isinstance(body, type) and issubclass(body, msgspec.Struct)
    }
    ordered = sorted(structs, key=lambda t: (t.__module__, t.__qualname__))
    _, components = msgspec.json.schema_components(
        ordered, ref_template="#/components/schemas/{name}"
    )
    names = {body: _component_name(body, components) for body in ordered}
    paths: dict[str, dict[str, Any]] = {}
    for path, method, route in api_routes(routes):
        found = readings[id(route)]
        template = _PARAM_RE.sub(r"{\1}", path)
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _CONVERTOR_SCHEMAS.get(convertor or "str", {"type": "string"}),
            }
            for name, convertor in _PARAM_RE.findall(path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in dict.fromkeys(found.query)
        ]
        operation: dict[str, Any] = {
            "operationId": _operation_id(method, path),
            "tags": [_tag(path)],
            "summary": (inspect.getdoc(route.endpoint) or route.endpoint.__name__).split("\n")[0],
            "parameters": parameters,
            "responses": _responses(),
        }
        if method in {"POST", "PUT", "PATCH", "DELETE"}:
            operation["requestBody"] = _request_body(found, names)
        paths.setdefault(template, {})[method.lower()] = operation
    components["Error"] = _ERROR
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Linli HTTP API",
            "version": version,
            "description": (
                "Linli's HTTP API, generated from its routes and typed request bodies. "
                "Authentication is the `linli_session` cookie set by `POST /api/login`; every "
                "request with a body must carry an allowed `Origin` and `Content-Type: "
                "application/json` (uploads: the file's bytes). Success bodies and the "
                "WebSocket protocol are described in docs/protocol.md."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "linli_session"}
            },
        },
        # Optional: login, registration and this document itself need no session.
        "security": [{}, {"session": []}],
    }


def _component_name(body: type[msgspec.Struct], components: dict[str, Any]) -> str:
    name = body.__name__
    if name in components:
        return name
    # msgspec qualifies a name shared by two structs with its module.
    for key in components:
        if key.endswith(name):
            return key
    raise KeyError(name)


def _tag(path: str) -> str:
    parts = path.split("/")
    return parts[2] if len(parts) > 2 else "api"


def _body_schema(body: Any, names: dict[type[msgspec.Struct], str]) -> dict[str, Any]:
    if body in names:
        return {"$ref": f"#/components/schemas/{names[body]}"}
    return msgspec.json.schema(body)


def _request_body(found: _Reading, names: dict[type[msgspec.Struct], str]) -> dict[str, Any]:
    if found.upload:
        return {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    refs = [_body_schema(b, names) for b in dict.fromkeys(found.bodies)]
    schema: dict[str, Any]
    if not refs:
        # The handler takes no fields; the body still carries the CSRF checks' content type.
        schema = {"type": "object"}
    else:
        schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def _responses() -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "2XX": {"description": "Done; the body is described in docs/protocol.md."},
        "4XX": {
            "description": "The request was refused; `error.code` says why.",
            "content": error,
            "headers": {
                "Retry-After": {
                    "description": "With 429: seconds to wait.",
                    "schema": {"type": "string"},
                }
            },
        },
        "503": {"description": "Not ready, or a backend is unreachable.", "content": error},
    }


async def openapi_json(request: Request) -> Response:
    """The OpenAPI description of this API (public: it describes no data, and the source is
    public anyway)."""
    from importlib.metadata import version

    state = request.app.state
    body: bytes | None = getattr(state, "openapi_json", None)
    if body is None:  # made once per app: the routes do not change while it runs
        body = bytes(JSONResponse(describe(request.app.routes, version=version("linli"))).body)
        state.openapi_json = body
    return Response(body, media_type="application/json")


ROUTES = [Route(OPENAPI_PATH, openapi_json, methods=["GET"])]
