"""How to add a check kind: everything an extension needs is in this file.

A *check kind* turns a manifest entry into something that runs. Write an ``async`` function that takes
its validated params and a :class:`CheckContext` and returns a :class:`~checks.core.result.Result`, and mark
it with :func:`check_kind`::

    from pydantic import BaseModel
    from checks.core.hookspecs import CheckContext, check_kind
    from checks.core.result import Result

    class PingParams(BaseModel):
        url: str

    @check_kind("ping", params=PingParams)
    async def ping(params: PingParams, ctx: CheckContext) -> Result:
        \"\"\"Reachable: GET the URL and expect 200.\"\"\"
        response = await ctx.client.get(ctx.provider_url(params.url))
        if response.status_code == 200:
            return Result.passed("reachable", status_code=200)
        return Result.failed(f"answered {response.status_code}", status_code=response.status_code)

Then either put the module in ``checks/builtin/`` and list it in ``checks.core.registry.BUILTIN_MODULES``, or, from
another distribution, declare an entry point in the group ``readiness.checks`` naming the module::

    [project.entry-points."readiness.checks"]
    ping = "my_package.ping"

The registry (:func:`checks.core.registry.get_registry`) is built in a function, never at import: it
imports the built-in modules and the entry points, collects every function marked with
:func:`check_kind`, and records (rather than raises) a plugin that fails to load.

The contract for a kind:

* return a Result; raise only for bugs. The runner turns an exception into an ``error`` result with its
  type and a scrubbed message, and a timeout into an ``error`` result too, so a kind need not catch
  ``httpx`` errors it cannot explain better;
* call providers through :func:`checks.core.outbound.request` (or :func:`checks.core.outbound.fetch` to judge every
  answer yourself): they use ``ctx.client`` (one shared ``httpx.AsyncClient``) and ``ctx.provider_url``
  (so ``READINESS_STANDINS_URL`` reroutes them), read at most the manifest's ``max_response_bytes`` and
  never sleep past ``ctx.deadline``; ``ctx.client`` used directly gets none of these bounds but the
  runner's timeout. Use ``ctx.clock`` for "now";
* read secrets with ``ctx.secret(name)``: the value is registered with the scrubber, so it cannot leak
  into a summary or evidence. Put ``fingerprint(value)`` in evidence, never the value.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from checks.core.clock import Clock
from checks.core.errors import CheckError
from checks.core.redact import Scrubber
from checks.core.result import Result

if TYPE_CHECKING:
    import httpx  # a kind's context carries the client; validating params needs no HTTP

    from checks.core.facts import Attestation
    from checks.core.manifest import CheckSpec, Manifest

__all__ = ["KIND_ATTR", "CheckContext", "KindSpec", "NoParams", "check_kind"]

KIND_ATTR = "__readiness_kind__"
ENTRY_POINT_GROUP = "readiness.checks"


class NoParams(BaseModel):
    """Params of a kind that takes none."""

    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=BaseModel)
KindFunction = Callable[[Any, "CheckContext"], Awaitable[Result]]


@dataclass(frozen=True)
class KindSpec:
    """A registered check kind."""

    name: str
    """The ``kind`` a manifest check names, e.g. ``env``."""
    run: KindFunction
    params: type[BaseModel]
    """Pydantic model validating the check's ``params`` table (unknown keys should be forbidden)."""
    doc: str
    """First paragraph of the function's docstring: what it calls and what its answers mean."""
    source: str = "builtin"
    """Where it came from: ``builtin`` or ``entry point NAME (distribution D)``."""


def check_kind(name: str, *, params: type[BaseModel] = NoParams) -> Callable[[Callable[..., Any]], Any]:
    """Mark an async function as the check kind ``name``. Registers nothing by itself."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise CheckError(f"check kind name {name!r} must be letters, digits, '_' or '-'")

    def mark(fn: Callable[..., Any]) -> Any:
        if not inspect.iscoroutinefunction(fn):
            raise CheckError(f"check kind {name!r} ({fn.__qualname__}) must be an async function")
        doc = inspect.getdoc(fn) or ""
        spec = KindSpec(name=name, run=fn, params=params, doc=" ".join(doc.split("\n\n")[0].split()))
        setattr(fn, KIND_ATTR, spec)
        return fn

    return mark


@dataclass
class CheckContext:
    """What a running check may use. One per check; the client and clock are shared by the sweep."""

    check: CheckSpec
    client: httpx.AsyncClient
    clock: Clock
    env: Mapping[str, str]
    """Resolved environment: process environment over the ``.env`` file."""
    manifest: Manifest
    attestations: Mapping[str, Attestation] = field(default_factory=dict)
    """The latest attestation per item."""
    scrubber: Scrubber = field(default_factory=Scrubber)
    """Shared by the whole sweep: a secret one check registers is masked in every check's output."""
    standins_url: str | None = None
    """``READINESS_STANDINS_URL``: when set, provider URLs are rerouted to it."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Shared objects other layers hand to kinds, keyed by name: ``env_sources`` (variable name ->
    ``"environment"`` or ``".env file"``), ``store`` (the history store, when the sweep records)."""
    deadline: float | None = None
    """When this check must be done, on the event loop's clock (``loop.time()``): the earlier of its
    timeout and the sweep deadline. Set by the runner; None outside a sweep (then: its timeout)."""

    def value(self, name: str) -> str | None:
        """The value of a non-secret variable (a URL, an id); None if unset. Not registered with the
        scrubber, which is shared by the whole sweep: registering a plain URL would mask it everywhere."""
        return self.env.get(name) or None

    def secret(self, name: str) -> str | None:
        """The value of environment variable ``name``, registered with the scrubber; None if unset."""
        value = self.env.get(name)
        if value:
            self.scrubber.add(value)
        return value or None

    def provider_url(self, url: str) -> str:
        """``https://HOST/PATH`` -> ``{READINESS_STANDINS_URL}/HOST/PATH`` when stand-ins are on."""
        if not self.standins_url:
            return url
        parts = urlsplit(url)
        rest = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.standins_url.rstrip('/')}/{parts.netloc}{rest}{query}"
