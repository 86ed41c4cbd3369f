"""Check kinds used only by the runner tests: sleep, raise, answer a fixed status, ignore cancellation, count
the checks in flight, call an HTTP server as a provider kind does."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref

from pydantic import BaseModel, ConfigDict

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.result import Result
from checks.core.status import Status


class FixedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status = Status.PASS
    sleep_s: float = 0.0
    summary: str = "fixed"


@check_kind("fixed", params=FixedParams)
async def fixed(params: FixedParams, ctx: CheckContext) -> Result:
    """Answers the configured status after sleeping."""
    if params.sleep_s:
        await asyncio.sleep(params.sleep_s)
    return Result(params.status, params.summary, {"slept_s": params.sleep_s})


class BoomParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = "boom"


@check_kind("boom", params=BoomParams)
async def boom(params: BoomParams, ctx: CheckContext) -> Result:
    """Raises, like a kind with a bug."""
    raise ValueError(params.message)


@check_kind("leaky")
async def leaky(params: BaseModel, ctx: CheckContext) -> Result:
    """Tries to put a secret into its summary and evidence (the runner must scrub it)."""
    value = ctx.secret("GOOGLE_OAUTH_CLIENT_SECRET") or ""
    return Result.failed(f"secret is {value}", remediation=f"not {value}", seen=value, nested={"v": [value]})


@check_kind("wrong_type")
async def wrong_type(params: BaseModel, ctx: CheckContext) -> Result:
    """Returns something that is not a Result."""
    return "ok"  # type: ignore[return-value]


@check_kind("stuck")
async def stuck(params: BaseModel, ctx: CheckContext) -> Result:
    """Blocks until the test sets ``ctx.extras["release"]`` (an ``asyncio.Event``), swallowing every
    cancellation meanwhile, like a kind whose retry loop catches everything."""
    release: asyncio.Event = ctx.extras["release"]
    while not release.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await release.wait()
    return Result(Status.PASS, "released")


@check_kind("stuck_then_crash")
async def stuck_then_crash(params: BaseModel, ctx: CheckContext) -> Result:
    """As ``stuck``, then raises once released: an abandoned kind failing after the sweep gave up on it."""
    release: asyncio.Event = ctx.extras["release"]
    while not release.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await release.wait()
    raise RuntimeError("late failure of an abandoned kind")


@check_kind("crash_on_cancel")
async def crash_on_cancel(params: BaseModel, ctx: CheckContext) -> Result:
    """Waits forever; cancelled, its clean-up fails: it ends at once, but with an exception instead."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise RuntimeError("clean-up failed while being cancelled") from None
    return Result(Status.PASS, "never")


@check_kind("inflight", params=FixedParams)
async def inflight(params: FixedParams, ctx: CheckContext) -> Result:
    """Counts the checks of its kind running at once in ``ctx.extras["inflight"]`` (``now`` and ``max``)
    while it sleeps ``sleep_s``."""
    seen = ctx.extras["inflight"]
    seen["now"] += 1
    seen["max"] = max(seen["max"], seen["now"])
    try:
        await asyncio.sleep(params.sleep_s)
    finally:
        seen["now"] -= 1
    return Result(params.status, params.summary)


@check_kind("echo")
async def echo(params: BaseModel, ctx: CheckContext) -> Result:
    """Returns ``ctx.extras["result"]`` as it is: what a provider kind would build from an answer."""
    result: Result = ctx.extras["result"]
    return result


@check_kind("client")
async def client(params: BaseModel, ctx: CheckContext) -> Result:
    """Hands the runner's HTTP client to the test through ``ctx.extras["client"]``."""
    ctx.extras["client"] = ctx.client
    return Result(Status.PASS, "seen")


@check_kind("orphan")
async def orphan(params: BaseModel, ctx: CheckContext) -> Result:
    """Ignores its cancellation, then waits on a future nothing but itself refers to (``ctx.extras["late"]``
    holds a weak reference to it, for the test to set), and records ``ctx.extras["finished"]`` once it ran to
    its end: an abandoned kind still busy."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    late = asyncio.get_running_loop().create_future()
    ctx.extras["late"] = weakref.ref(late)
    await late
    ctx.extras["finished"] = True
    return Result(Status.PASS, "finished late")


@check_kind("collector")
async def collector(params: BaseModel, ctx: CheckContext) -> Result:
    """Once the runner has given up on the ``orphan`` (``ctx.extras["abandoned"]``, an ``asyncio.Event`` the test
    sets), collects garbage (as the interpreter may at any moment), then lets the orphan finish if it still
    exists: ``pass`` when it did, ``fail`` when it had been destroyed."""
    await ctx.extras["abandoned"].wait()
    gc.collect()
    late = ctx.extras["late"]()
    if late is None:
        return Result(Status.FAIL, "the abandoned kind was destroyed while it ran")
    late.set_result(None)
    for _ in range(5):
        await asyncio.sleep(0)
    return Result(Status.PASS, "the abandoned kind ran to its end" if ctx.extras.get("finished") else "still running")


@check_kind("retrying")
async def retrying(params: BaseModel, ctx: CheckContext) -> Result:
    """Calls ``ctx.extras["url"]`` as a provider kind does (429 and 5xx retried within the time the check has
    left) and reports an answer that outlasted the retries."""
    from checks.core.outbound import request, server_error

    url = ctx.extras["url"]
    response = await request(ctx, "GET", url, what="The test API", provider=False)
    if response.status_code >= 400:
        return server_error(response, "The test API", url, ctx)
    return Result(Status.PASS, "answered")
