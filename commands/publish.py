"""`wpqa publish --repo-id ORG/NAME`: push `data/hf/` to a Hugging Face dataset repo.

The token comes from the environment (`HF_TOKEN`), never from params or the command line.
`--dry-run` lists what would be uploaded and checks the card's metadata offline; a real
publish first runs `DatasetCard.validate()` (which asks the Hub), then creates the repo if
needed and uploads the folder in one commit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wpqa.hub import REPO_ID, write_token

class PublishError(ValueError):
    pass


def folder_files(folder: str | Path) -> list[tuple[str, int]]:
    """(path inside the folder, bytes) of every file to upload, sorted; hidden files skipped."""
    root = Path(folder)
    return sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def check_folder(folder: str | Path) -> list[tuple[str, int]]:
    """The files to upload, after checking the card and its metadata offline."""
    import yaml

    from wpqa.hub import card_metadata_problems

    files = folder_files(folder)
    names = {name for name, _ in files}
    if "README.md" not in names:
        raise PublishError(f"{folder}: no README.md dataset card; run the split stage (dvc repro split)")
    text = (Path(folder) / "README.md").read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise PublishError(f"{folder}/README.md has no YAML metadata block")
    meta = yaml.safe_load(text.split("---\n")[1])
    problems = card_metadata_problems(meta)
    if problems:
        raise PublishError(f"{folder}/README.md metadata: " + "; ".join(problems))
    for config in meta.get("configs", []):
        for entry in config.get("data_files", []):
            if entry["path"] not in names:
                raise PublishError(f"{folder}/README.md names {entry['path']}, which is missing")
    return files


def publish(folder: str | Path, repo_id: str, token: str, private: bool = False) -> str:
    """Validate the card with the Hub, create the repo if needed, upload; return the commit URL."""
    from huggingface_hub import DatasetCard, HfApi

    DatasetCard.load(Path(folder) / "README.md").validate(repo_type="dataset")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                             commit_message="Upload wpqa dataset", ignore_patterns=[".*"])
    return str(getattr(info, "commit_url", info))


def publish_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wpqa publish", description=__doc__.splitlines()[0],
        epilog="exit status: 0 uploaded (or listed, with --dry-run); 1 the Hub refused the "
        "upload; 2 a bad --repo-id, a bad data/hf folder, no Hub token, or wrong arguments.")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    parser.add_argument("--folder", default="data/hf")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="list the files; upload nothing")
    args = parser.parse_args(argv)
    if not REPO_ID.match(args.repo_id):
        print(f"wpqa publish: --repo-id {args.repo_id!r}: expected ORG/NAME", file=sys.stderr)
        return 2
    try:
        files = check_folder(args.folder)
    except (OSError, PublishError) as err:
        print(f"wpqa publish: {err}", file=sys.stderr)
        return 2
    total = sum(size for _, size in files)
    if args.dry_run:
        print(f"wpqa publish (dry run): would upload {len(files)} files ({total:,} bytes) to "
              f"https://huggingface.co/datasets/{args.repo_id}"
              f"{' (private)' if args.private else ''}")
        for name, size in files:
            print(f"  {name}  {size:,} bytes")
        return 0
    token, problem = write_token()
    if problem:
        print(f"wpqa publish: {problem}", file=sys.stderr)
        return 2
    try:
        url = publish(args.folder, args.repo_id, token, args.private)
    except Exception as err:  # the Hub client raises HTTP, validation and auth errors
        print(f"wpqa publish: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"wpqa publish: {len(files)} files uploaded: {url}")
    return 0
