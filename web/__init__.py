"""The Starlette application: accounts, HTTP API, pages; mounts the gateway."""

from starlette.convertors import IntegerConvertor, register_url_convertor


class IdConvertor(IntegerConvertor):
    """``{name:int}`` in every route: at most 18 digits, so an id always fits the databases'
    64-bit integers. Starlette's own takes any number of digits, and a 19-digit id past 2**63
    made SQLite (and asyncpg) raise OverflowError: a 500 instead of 404 (found by schemathesis,
    ``tests/e2e/test_openapi_fuzz.py``). A longer id now matches no route: 404 ``not_found``."""

    regex = "[0-9]{1,18}"


#: The largest id a path can carry (``IdConvertor``).
MAX_PATH_ID = 10**18 - 1

# Registered here, before any web module builds its routes: a Route compiles its path with the
# convertors registered when it is made.
register_url_convertor("int", IdConvertor())
