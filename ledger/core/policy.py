"""The presence policy as data, and its evaluation as a pure function.

A policy names, per step type (``"*"`` for every step without its own entry), requirements
of the form "at least N people whose roster role is one of R". Each person counts once, with
the role the roster gives them — never the role an event claims. The verdict lists exactly
which requirement is short, by how many, and who was counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

from ledger.core.errors import InputError
from ledger.core.text import Message, either, joined

ROLES = ("police", "staff", "inspector", "authority")
# The roles in words a reader's language can replace (the role ids themselves stay English).
ROLE_WORDS = {"police": Message("police"), "staff": Message("staff"),
              "inspector": Message("inspector"), "authority": Message("authority")}
ANY_STEP = "*"
DEFAULT_PRESENCE_WINDOW = 10  # minutes


@dataclass(frozen=True)
class Requirement:
    roles: tuple[str, ...]
    at_least: int

    @cached_property
    def distinct_roles(self) -> frozenset[str]:
        """The roles, each once (a role named twice counts its people once)."""
        return frozenset(self.roles)

    def describe(self) -> str:
        return Message("{count} {roles}", count=self.at_least,
                       roles=either([ROLE_WORDS.get(r, r) for r in self.roles]))


@dataclass(frozen=True)
class PresencePolicy:
    """A versioned presence policy: requirements per step type."""

    id: str
    version: int
    steps: Mapping[str, tuple[Requirement, ...]]
    description: str = ""
    # Two steps a person signs at different places this close in time are flagged as
    # impossible presence (PRESENCE_CONFLICT); None: the policy does not say (the default).
    presence_window_minutes: int | None = None

    @property
    def presence_window(self) -> int:
        """Minutes within which one person cannot sign at two places (default 10)."""
        if self.presence_window_minutes is None:
            return DEFAULT_PRESENCE_WINDOW
        return self.presence_window_minutes

    def requirements(self, step_type: str) -> tuple[Requirement, ...]:
        """Return the requirements for ``step_type`` (falling back to ``"*"``)."""
        if step_type in self.steps:
            return self.steps[step_type]
        return self.steps.get(ANY_STEP, ())

    @property
    def ref(self) -> dict[str, Any]:
        """The ``{"id", "version"}`` reference events carry (a new dict each time: callers
        put it in evidence)."""
        return {"id": self.id, "version": self.version}

    def named_by(self, reference: Mapping[str, Any]) -> bool:
        """Whether an event's ``policy`` reference names this policy."""
        return reference == self._ref

    @cached_property
    def _ref(self) -> dict[str, Any]:
        return self.ref

    def to_data(self) -> dict[str, Any]:
        """Return the policy as plain data (the format in ``schemas/policy.schema.json``)."""
        data: dict[str, Any] = {
            "id": self.id,
            "version": self.version,
            "description": self.description,
            "steps": {
                step: {"require": [{"roles": list(r.roles), "at_least": r.at_least} for r in reqs]}
                for step, reqs in self.steps.items()
            },
        }
        if self.presence_window_minutes is not None:
            data["presence_window_minutes"] = self.presence_window_minutes
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> "PresencePolicy":
        """Build a policy from schema-valid data; re-check what a schema cannot say."""
        steps: dict[str, tuple[Requirement, ...]] = {}
        for step, entry in data["steps"].items():
            reqs = []
            for req in entry["require"]:
                roles = tuple(req["roles"])
                unknown = [r for r in roles if r not in ROLES]
                if unknown:
                    raise InputError(f"policy step {step!r} names unknown role(s) {unknown}")
                reqs.append(Requirement(roles, int(req["at_least"])))
            steps[step] = tuple(reqs)
        return cls(
            id=data["id"],
            version=int(data["version"]),
            steps=steps,
            description=data.get("description", ""),
            presence_window_minutes=(None if data.get("presence_window_minutes") is None
                                     else int(data["presence_window_minutes"])),
        )


@dataclass(frozen=True)
class Shortfall:
    requirement: Requirement
    counted: tuple[str, ...]  # person ids who satisfied this requirement's roles

    @property
    def missing(self) -> int:
        return self.requirement.at_least - len(self.counted)

    def describe(self) -> str:
        who = ", ".join(self.counted) or Message("nobody")
        return Message("needs {required}, has {count} ({who}): {missing} missing",
                       required=self.requirement.describe(), count=len(self.counted), who=who,
                       missing=self.missing)


@dataclass(frozen=True)
class PresenceVerdict:
    """What a policy says of the people present at one step."""

    policy: Mapping[str, Any]
    step_type: str
    present: Mapping[str, str]  # person id -> roster role
    shortfalls: tuple[Shortfall, ...] = field(default=())

    @property
    def met(self) -> bool:
        return not self.shortfalls

    def describe(self) -> str:
        if self.met:
            return Message("presence policy {policy} v{version} met", policy=self.policy["id"],
                           version=self.policy["version"])
        return joined([s.describe() for s in self.shortfalls])


def evaluate(policy: PresencePolicy, step_type: str, present: Mapping[str, str]) -> PresenceVerdict:
    """Judge the people ``present`` (person id -> roster role) against ``policy``."""
    shortfalls = []
    tally: dict[str, int] = {}  # role -> people counted in it
    for role in present.values():
        tally[role] = tally.get(role, 0) + 1
    for req in policy.requirements(step_type):
        if sum(tally.get(role, 0) for role in req.distinct_roles) < req.at_least:
            shortfalls.append(Shortfall(req, tuple(sorted(
                pid for pid, role in present.items() if role in req.roles))))
    return PresenceVerdict(policy.ref, step_type, dict(present), tuple(shortfalls))
