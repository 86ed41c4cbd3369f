"""One scenario mechanism for every stand-in: the scenario in force, its options, the fault it makes, and the
control actions every stand-in answers the same way (``/_standins/HOST/scenario``, ``reset``, ``state``).

A provider keeps one :class:`Scenarios`, built with its list of names. :meth:`Scenarios.set` validates a
name against that list (ValueError naming the choices) and says what the name does, so the provider applies
only its own effects:

* ``"reset"``: the *default* name (``valid``; the token endpoints' ``ok``) or one of its ``aliases``: no
  scenario, no fault;
* ``"fault"``: a name of ``faults`` (``slow``, ``500``, ``429``, ``garbage``, ...) becomes the :class:`Fault`
  in force, for ``times`` requests (:meth:`Scenarios.take_fault` counts them) or until replaced; the named
  scenario stays;
* ``"state"``: a name of ``own`` (default: every other name) becomes the named scenario, with its options;
* ``"ignored"``: a listed name about another host of the same provider: accepted, nothing changes.

:meth:`Scenarios.control` answers ``/_standins/HOST/ACTION`` for every provider: ``state`` (and
``GET scenario``) with the scenario, the choices, the fault and the provider's own state; ``POST scenario``
``{"name": ..., **options}``; ``POST reset``; the provider's own read actions (any method) and write actions
(POST). Unknown names answer 400 through the server (ValueError), unknown actions 404, writes without POST 405.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FAULTS", "Fault", "Scenarios"]

FAULTS = ("slow", "500", "429", "garbage")
"""The faults every provider knows: late, a server error, too many requests, an answer in the wrong format."""

Effect = Literal["reset", "fault", "state", "ignored"]


@dataclass
class Fault:
    """A fault in force: sleep ``seconds`` (``slow``), answer ``status`` (``500``), ask to retry after
    ``retry_after`` (``429``: seconds or an HTTP-date); for ``times`` requests, or until replaced (None)."""

    name: str
    seconds: float = 2.0
    status: int = 500
    retry_after: int | str | None = 1
    times: int | None = None


class Scenarios:
    """The scenario in force at one stand-in (module docstring). Thread-safe."""

    def __init__(
        self,
        label: str,
        names: Iterable[str],
        *,
        default: str = "valid",
        aliases: Iterable[str] = (),
        faults: Iterable[str] = (),
        own: Iterable[str] | None = None,
        fault_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.label = label
        """Whose scenarios, for the error message (``Twilio``, ``GHL proxy``, ...)."""
        self.names = tuple(names)
        self.default = default
        self._resets = frozenset({default, *aliases})
        self._faults = frozenset(faults)
        self._own = None if own is None else frozenset(own)
        self._fault_defaults = {"seconds": 2.0, "status": 500, "retry_after": 1, **(fault_defaults or {})}
        self._lock = threading.Lock()
        self._name = default
        self._options: dict[str, Any] = {}
        self._fault: Fault | None = None

    # -- the scenario in force ------------------------------------------------------------------------------------

    def check(self, name: str) -> str:
        """``name`` when it is one of :attr:`names`; ValueError naming them otherwise."""
        if name not in self.names:
            raise ValueError(f"unknown scenario {name!r} for {self.label}; choose one of {', '.join(self.names)}")
        return name

    def effect(self, name: str) -> Effect:
        """What :meth:`set` does with ``name`` (module docstring), without doing it."""
        self.check(name)
        if name in self._resets:
            return "reset"
        if name in self._faults:
            return "fault"
        return "state" if self._own is None or name in self._own else "ignored"

    def set(self, name: str, **options: Any) -> Effect:
        """Put ``name`` in force with its ``options``; answers what that did (module docstring)."""
        effect = self.effect(name)
        with self._lock:
            if effect == "reset":
                self._name, self._options, self._fault = self.default, {}, None
            elif effect == "fault":
                given = {**self._fault_defaults, **options}
                self._fault = Fault(
                    name,
                    seconds=float(given["seconds"]),
                    status=int(given["status"]),
                    retry_after=given["retry_after"],
                    times=given.get("times"),
                )
            elif effect == "state":
                self._name, self._options = name, dict(options)
        return effect

    def reset(self) -> None:
        """Back to the default: no scenario, no fault."""
        self.set(self.default)

    @property
    def name(self) -> str:
        """The named scenario in force (the default when none)."""
        with self._lock:
            return self._name

    @property
    def options(self) -> dict[str, Any]:
        """The options the named scenario in force was set with."""
        with self._lock:
            return dict(self._options)

    @property
    def fault(self) -> Fault | None:
        with self._lock:
            return self._fault

    def take_fault(self) -> Fault | None:
        """The fault in force for one request (None: none), counting down its ``times``."""
        with self._lock:
            fault = self._fault
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._fault = None
            return fault

    def state(self) -> dict[str, Any]:
        """``{"scenario", "scenarios", "fault"?}``: the fault only for providers that have faults."""
        with self._lock:
            answer: dict[str, Any] = {"scenario": self._name, "scenarios": list(self.names)}
            if self._faults:
                answer["fault"] = vars(self._fault).copy() if self._fault else None
            return answer

    # -- the control surface --------------------------------------------------------------------------------------

    def control(
        self,
        method: str,
        action: str,
        payload: Any,
        *,
        apply: Callable[..., Any],
        reset: Callable[[], Any],
        state: Callable[[], Mapping[str, Any]] | None = None,
        reads: Mapping[str, Callable[[], Any]] | None = None,
        writes: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> tuple[int, Any]:
        """Answer ``/_standins/HOST/ACTION`` (module docstring). ``apply(name, **options)`` and ``reset()`` are the
        provider's own (they apply its effects); ``state()`` adds to the state answer; ``reads`` answer any
        method; ``writes`` take the JSON payload on POST and answer it, or ``{"ok": true}`` when they return None."""
        reads, writes = dict(reads or {}), dict(writes or {})
        if action == "state" or (action == "scenario" and method == "GET"):
            return 200, {**self.state(), **(state() if state is not None else {})}
        if action in reads:
            return 200, reads[action]()
        known = ["scenario", "reset", "state", *reads, *writes]
        if action not in known:
            return 404, {"error": f"unknown action {action!r}; try {', '.join(known)}"}
        if method != "POST":
            return 405, {"error": f"{action} needs POST"}
        if action == "scenario":
            apply(str(payload["name"]), **{k: v for k, v in payload.items() if k != "name"})
            return 200, {"ok": True}
        if action == "reset":
            reset()
            return 200, {"ok": True}
        answer = writes[action](payload)
        return 200, {"ok": True} if answer is None else answer
