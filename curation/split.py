"""split stage: accepted Q&A to train/test splits and a Hugging Face dataset folder.

Items are grouped by source page so no page straddles train and test, the groups are
ordered by a seeded hash (deterministic, independent of file order), and whole groups go
to test until it holds `split.test_size` items (a count, or a fraction of all items).
`data/hf/` gets one parquet file per split and a dataset card whose YAML metadata
`datasets.load_dataset` and the Hub read.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from wpqa.io import atomic_path, read_jsonl, write_json, write_jsonl, write_text
from wpqa.params import SplitParams, load_params
from wpqa.records import QAPair, from_row, to_row

CARD_LICENSE = "mit"  # the bundled sample site is written for this project under its license
FEATURES = [("id", "string"), ("question", "string"), ("answer", "string"), ("kind", "string"),
            ("source_url", "string"), ("source", "string"), ("section_id", "string"),
            ("heading_path", "list"), ("content_hash", "string"), ("generator", "string")]


class SplitError(ValueError):
    pass


def split_by_page(items: list[QAPair], params: SplitParams, seed: int
                  ) -> tuple[list[QAPair], list[QAPair]]:
    """(train, test): whole source pages go to test until it holds the target count."""
    if not items:
        raise SplitError("no accepted Q&A to split; check the validate stage's quarantine")
    target = params.test_count(len(items))
    if target >= len(items):
        raise SplitError(f"split.test_size {params.test_size} asks for {target} test items but "
                         f"only {len(items)} were accepted; use a smaller count or a fraction")
    groups: dict[str, list[QAPair]] = defaultdict(list)
    for qa in items:
        groups[qa.source_url].append(qa)
    order = sorted(groups, key=lambda url: hashlib.sha256(f"{seed}:{url}".encode()).hexdigest())
    test: list[QAPair] = []
    for url in order:
        if len(test) + len(groups[url]) <= target:
            test.extend(groups[url])
        if len(test) == target:
            break
    test_urls = {qa.source_url for qa in test}
    train = [qa for qa in items if qa.source_url not in test_urls]
    return sorted(train, key=lambda q: q.id), sorted(test, key=lambda q: q.id)


def to_table(items: list[QAPair]):
    import pyarrow as pa

    columns = {name: [getattr(qa, name) for qa in items] for name, _ in FEATURES}
    schema = pa.schema([(name, pa.list_(pa.string()) if kind == "list" else pa.string())
                        for name, kind in FEATURES])
    return pa.table(columns, schema=schema)


def write_parquet(path: Path, items: list[QAPair]) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(to_table(items), tmp)


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "n>1M"


def card_metadata(train: list[QAPair], test: list[QAPair]) -> dict[str, Any]:
    return {
        "license": CARD_LICENSE,
        "language": ["en"],
        "pretty_name": "wpqa: WordPress list-format Q&A",
        "task_categories": ["question-answering", "text-generation"],
        "size_categories": [size_category(len(train) + len(test))],
        "tags": ["wordpress", "instruction-tuning", "documentation"],
        "configs": [{"config_name": "default", "data_files": [
            {"split": "train", "path": "data/train.parquet"},
            {"split": "test", "path": "data/test.parquet"}]}],
        "dataset_info": {
            "features": [{"name": name, "dtype": kind} if kind != "list"
                         else {"name": name, "sequence": "string"} for name, kind in FEATURES],
            # num_bytes: the in-memory Arrow size, as the Hub's own cards record it.
            "splits": [{"name": "train", "num_bytes": to_table(train).nbytes, "num_examples": len(train)},
                       {"name": "test", "num_bytes": to_table(test).nbytes, "num_examples": len(test)}],
        },
    }


def render_card(train: list[QAPair], test: list[QAPair], validation: dict[str, Any]) -> str:
    """The dataset card: YAML metadata, then what a reader needs to trust the data."""
    items = train + test
    kinds = Counter(qa.kind for qa in items)
    sources = Counter(qa.source for qa in items)
    generators = sorted({qa.generator for qa in items})
    example = min(items, key=lambda q: q.id)
    example_json = json.dumps({"question": example.question, "answer": example.answer,
                               "kind": example.kind, "source_url": example.source_url},
                              ensure_ascii=False, indent=2)
    source_rows = "\n".join(f"| {name} | {count} |" for name, count in sorted(sources.items()))
    meta = yaml.safe_dump(card_metadata(train, test), sort_keys=False, allow_unicode=True)
    return f"""---
{meta}---

# wpqa: WordPress list-format Q&A

Questions about using and developing WordPress, each answered in one fixed pattern: a
one-line intro, then numbered steps (`steps`, for tasks) or numbered possible solutions
(`solutions`, for problems). Built by the wpqa pipeline from crawled documentation.

## Dataset structure

{len(train)} train and {len(test)} test items; {kinds.get('steps', 0)} `steps` and
{kinds.get('solutions', 0)} `solutions`. Splits are grouped by source page: no page
contributes to both. Fields: {', '.join(f'`{name}`' for name, _ in FEATURES)}.

```json
{example_json}
```

## Sources

| source | items |
|---|---|
{source_rows}

## Curation

Pages crawled with Scrapy (robots.txt obeyed), sections extracted with BeautifulSoup,
turned into Q&A by the generator(s) {', '.join(f'`{g}`' for g in generators)}, each item
traced to its page (`source_url`), section (`section_id`) and content hash.

## Validation

Every item passes all pattern rules (intro, list, numbering, tail, no_code, no_markup,
item_length, no_repeat, kind) and a Great Expectations suite. Of
{validation.get('candidates_in', 'n/a')} candidates, {validation.get('accepted', 'n/a')} were
accepted and {validation.get('quarantined', 'n/a')} quarantined with the rule they broke.

## Limitations

Answers are only as current as the crawled pages. The rules generator keeps only sections
that already hold a list; questions are worded from headings, so they read more uniformly
than real users' questions. Not reviewed item by item by a person.

## License

{CARD_LICENSE.upper()}, as the documentation it was built from.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--qa", default="data/curated/qa.jsonl")
    parser.add_argument("--validation", default="reports/validate/metrics.json")
    parser.add_argument("--splits", default="data/splits")
    parser.add_argument("--hf", default="data/hf")
    parser.add_argument("--metrics", default="reports/split/metrics.json")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    items = [from_row(QAPair, row) for row in read_jsonl(args.qa)]
    try:
        train, test = split_by_page(items, params.split, params.seed)
    except SplitError as err:
        raise SystemExit(f"split: {err}") from None
    write_jsonl(f"{args.splits}/train.jsonl", (to_row(q) for q in train))
    write_jsonl(f"{args.splits}/test.jsonl", (to_row(q) for q in test))
    hf = Path(args.hf)
    write_parquet(hf / "data" / "train.parquet", train)
    write_parquet(hf / "data" / "test.parquet", test)
    validation = json.loads(Path(args.validation).read_text()) if Path(args.validation).exists() else {}
    write_text(hf / "README.md", render_card(train, test, validation))
    write_json(args.metrics, {
        "items": len(items), "train": len(train), "test": len(test),
        "train_pages": len({q.source_url for q in train}),
        "test_pages": len({q.source_url for q in test}),
    })
    print(f"split: {len(items)} items -> train {len(train)}, test {len(test)}")


if __name__ == "__main__":
    main()
