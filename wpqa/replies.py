"""Versioned prompt files and the checks an LLM reply passes, shared by the generate
stage (generate, judge, paraphrase) and the eval stage (its judge): a reply that cannot be
used raises `Invalid` with a snake_case reason, which becomes a rejected row or a count.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    # The 1..5 range is checked in parse_judge: strict mode on some servers rejects
    # minimum/maximum keywords.
    "properties": {"score": {"type": "integer"},
                   "reason": {"type": "string"}},
    "required": ["score", "reason"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Prompt:
    """A versioned prompt file: system and user templates with {{name}} placeholders."""

    task: str
    version: str
    system: str
    user: str

    def render(self, **values: Any) -> tuple[dict[str, str], ...]:
        def fill(template: str) -> str:
            return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m.group(1)]), template)
        return ({"role": "system", "content": fill(self.system).strip()},
                {"role": "user", "content": fill(self.user).strip()})


def load_prompt(task: str, folder: Path) -> Prompt:
    """The prompt file `task`.yaml of a stage's prompt folder, checked."""
    data = yaml.safe_load((folder / f"{task}.yaml").read_text(encoding="utf-8"))
    for key in ("version", "system", "user"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ValueError(f"{folder / task}.yaml: needs a non-empty '{key}'")
    return Prompt(task, data["version"], data["system"], data["user"])


class Invalid(Exception):
    """A reply that cannot be used; `reason` is the snake_case reject reason."""

    def __init__(self, reason: str, detail: str, repairable: bool = True):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.repairable = repairable


_VALIDATORS: dict[str, Any] = {}


def schema_validator(schema: dict[str, Any]):
    """A checked validator for `schema`, built once: `jsonschema.validate` re-checks the schema
    itself on every call (13 ms here), which was 80% of a fully cached generate run."""
    import jsonschema

    key = json.dumps(schema, sort_keys=True)
    if key not in _VALIDATORS:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _VALIDATORS[key] = cls(schema)
    return _VALIDATORS[key]


def parse_json(text: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    import jsonschema

    text = (text or "").strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    if fenced:  # JSON mode on small local models sometimes fences its object
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise Invalid("invalid_json", f"not JSON ({err.msg} at {err.pos}): {text[:80]!r}") from None
    # the error jsonschema.validate would raise: the best match among all of them
    err = jsonschema.exceptions.best_match(schema_validator(schema).iter_errors(data))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "reply"
        raise Invalid("schema_violation", f"{where}: {err.message[:160]}")
    return data


def parse_judge(text: str | None) -> tuple[int, str]:
    data = parse_json(text, JUDGE_SCHEMA)
    if not 1 <= data["score"] <= 5:
        raise Invalid("schema_violation", f"score: {data['score']} is not between 1 and 5")
    return int(data["score"]), " ".join(data["reason"].split())[:300]
