"""Values the Hugging Face Hub accepts in dataset card metadata, checked offline.

`DatasetCard.validate()` asks the Hub over the network, so the split stage and the tests
check the card's metadata here instead: license ids from the Hub's license list
(https://huggingface.co/docs/hub/repositories-licenses), task categories from the Hub's
task list, and size categories and language codes from the files the `datasets` library
ships for its own card checks. `wpqa publish` still runs the real `validate()`.
"""
from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

HUB_LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m",
    "bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0",
    "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0",
    "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0",
    "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0",
    "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl",
    "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl",
    "mpl-2.0", "odc-by", "odbl", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa",
    "unlicense", "zlib", "pddl", "lgpl-lr", "unknown", "other",
)

HUB_TASK_CATEGORIES = (
    "text-classification", "token-classification", "table-question-answering",
    "question-answering", "zero-shot-classification", "translation", "summarization",
    "feature-extraction", "text-generation", "fill-mask", "sentence-similarity",
    "text-to-speech", "text-to-audio", "automatic-speech-recognition", "audio-classification",
    "image-classification", "object-detection", "image-segmentation", "text-to-image",
    "image-to-text", "image-text-to-text", "visual-question-answering",
    "document-question-answering", "text-retrieval", "text-ranking", "tabular-classification",
    "tabular-regression", "time-series-forecasting", "reinforcement-learning", "robotics",
    "graph-ml", "other",
)


@lru_cache(maxsize=None)
def _datasets_resource(name: str) -> Any:
    import datasets

    path = Path(datasets.__file__).parent / "utils" / "resources" / name
    return json.loads(path.read_text(encoding="utf-8"))


def size_categories() -> list[str]:
    return list(_datasets_resource("size_categories.json"))


def language_codes() -> set[str]:
    return set(_datasets_resource("languages.json"))


def size_category(n: int) -> str:
    """The Hub's size bucket for `n` examples (n<1K, 1K<n<10K, …)."""
    for limit, label in ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"),
                         (10**6, "100K<n<1M"), (10**7, "1M<n<10M"), (10**8, "10M<n<100M"),
                         (10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B"),
                         (10**12, "100B<n<1T")):
        if n < limit:
            return label
    return "n>1T"


def _as_list(value: Any) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def card_metadata_problems(meta: dict[str, Any]) -> list[str]:
    """What in a card's YAML metadata the Hub would not accept; [] when all is well."""
    from huggingface_hub import DatasetCardData

    problems = []
    try:
        data = DatasetCardData(**meta)
    except TypeError as err:
        return [f"not DatasetCardData: {err}"]
    for license_id in _as_list(data.license):
        if license_id not in HUB_LICENSES:
            problems.append(f"license {license_id!r} is not a Hub license id")
    for task in _as_list(data.task_categories):
        if task not in HUB_TASK_CATEGORIES:
            problems.append(f"task_categories {task!r} is not a Hub task category")
    allowed_sizes = size_categories()
    for size in _as_list(data.size_categories):
        if size not in allowed_sizes:
            problems.append(f"size_categories {size!r}; allowed: {', '.join(allowed_sizes)}")
    codes = language_codes()
    for lang in _as_list(data.language):
        if lang not in codes:
            problems.append(f"language {lang!r} is not a known language code")
    return problems


# What the Hub accepts as a repo id: ORG/NAME (shared by `wpqa publish` and `publish-model`).
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def write_token() -> tuple[str | None, str | None]:
    """(the Hub token from the environment, None) or (None, why an upload cannot start)."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        return None, "set HF_TOKEN in the environment to a Hub token with write access"
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        return None, ("HF_HUB_OFFLINE is set (the Makefile sets it for tests); unset it "
                      "to publish")
    return token, None
