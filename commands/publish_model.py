"""`wpqa publish-model --repo-id ORG/NAME`: the adapter and a model card on the Hub.

The upload folder holds the adapter as the train stage saved it (weights, adapter and
tokenizer configs) and a README.md model card: the base model and its pinned revision,
the dataset version (the DVC hash of the splits it was trained on), the training params
and the eval metrics. `--dry-run` builds the folder and lists its files without
uploading. The token comes from the environment (`HF_TOKEN`), never from params.

    wpqa publish-model --repo-id ORG/NAME [--dry-run] [--private] [--adapter models/adapter]
        [--base models/base] [--eval reports/eval/metrics.json] [--params params.yaml]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import yaml

from wpqa.hub import REPO_ID, write_token

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def dataset_version(lock_path: str | Path = "dvc.lock") -> str:
    """The DVC hash of data/splits from dvc.lock (what the adapter was trained on)."""
    try:
        lock = yaml.safe_load(Path(lock_path).read_text(encoding="utf-8"))
        for out in lock["stages"]["split"]["outs"]:
            if out["path"] == "data/splits":
                return f"data/splits md5 {out['md5']}"
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        pass
    return "unknown (no dvc.lock entry for data/splits)"


def model_card(*, repo_id: str, base: dict, params, eval_metrics: dict, train_metrics: dict,
               dataset: str) -> str:
    """README.md for the Hub: YAML front matter, then what, from what, how, how well."""
    on_hub = base.get("kind") == "hub"
    front = {"library_name": "peft", "tags": ["lora", "qlora", "wordpress", "wpqa"],
             "pipeline_tag": "text-generation"}
    if on_hub:
        front["base_model"] = base["model"]
    if base.get("kind") == "packaged":
        front["base_model"] = base["source"]
        base_line = (f"`{base['source']}` as the `{base['gguf_file']}` that "
                     f"`{base['package']}` {base['package_version']} ships (sha256 "
                     f"`{base['gguf_sha256']}`), dequantized to fp32: the adapter was trained "
                     "on those weights, which differ slightly from the Hub's original ones")
    elif on_hub:
        base_line = f"`{base['model']}` at revision `{base.get('revision')}`"
    else:
        base_line = (f"`{base.get('model')}` ({base.get('kind')} model; not on the Hub: load "
                     "it from the folder the base stage built)")
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(eval_metrics.items())) or "| - | - |"
    train = {"lr": params.lr, "seed": params.seed, **asdict(params.train)}
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=True)}---\n\n"
        f"# {repo_id}\n\n"
        "A LoRA adapter (QLoRA, 4-bit NF4 base) that answers WordPress how-to and "
        "troubleshooting questions as a one-line intro followed by a numbered list, trained "
        "by the wpqa pipeline.\n\n"
        f"- **Base model**: {base_line}\n"
        f"- **Dataset version**: {dataset}\n"
        f"- **Trainable parameters**: {train_metrics.get('trainable_params', '?')} of "
        f"{train_metrics.get('total_params', '?')}\n"
        f"- **Final training loss**: {train_metrics.get('final_loss', '?')}\n\n"
        "## Training parameters\n\n```yaml\n"
        f"{yaml.safe_dump(train, sort_keys=True)}```\n\n"
        "## Evaluation (pattern conformance on the test split)\n\n"
        "| metric | value |\n|---|---|\n"
        f"{rows}\n\n"
        "## Use\n\n```python\nfrom peft import AutoPeftModelForCausalLM\n"
        f"model = AutoPeftModelForCausalLM.from_pretrained(\"{repo_id}\")\n```\n")


def build_upload_folder(folder: Path, adapter_dir: Path, card: str) -> list[Path]:
    """Copy the adapter files and write the card; returns the files, sorted."""
    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json; run the train stage first")
    for name in ADAPTER_FILES:
        if (adapter_dir / name).is_file():
            shutil.copy2(adapter_dir / name, folder / name)
    (folder / "README.md").write_text(card, encoding="utf-8")
    return sorted(p for p in folder.iterdir() if p.is_file())


def read_json(path: str | Path) -> dict:
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def publish_command(argv: list[str], out=sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="wpqa publish-model", description=__doc__.splitlines()[0],
        epilog="exit status: 0 uploaded (or listed, with --dry-run); 2 a bad --repo-id, bad "
        "params, a missing adapter, no Hub token, or wrong arguments.")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME on the Hugging Face Hub")
    parser.add_argument("--dry-run", action="store_true", help="list the files, upload nothing")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--adapter", default="models/adapter")
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--eval", default="reports/eval/metrics.json")
    parser.add_argument("--train-metrics", default="reports/train/metrics.json")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--lock", default="dvc.lock")
    args = parser.parse_args(argv)
    from wpqa.params import ParamsError, load_params

    if not REPO_ID.match(args.repo_id):
        print(f"wpqa publish-model: --repo-id {args.repo_id!r}: expected ORG/NAME", file=sys.stderr)
        return 2
    try:
        params = load_params(args.params)
    except ParamsError as err:
        print(f"wpqa publish-model: {err}", file=sys.stderr)
        return 2
    card = model_card(repo_id=args.repo_id, base=read_json(Path(args.base) / "base.json"),
                      params=params, eval_metrics=read_json(args.eval),
                      train_metrics=read_json(args.train_metrics),
                      dataset=dataset_version(args.lock))
    with tempfile.TemporaryDirectory(prefix="wpqa-publish-") as tmp:
        try:
            files = build_upload_folder(Path(tmp), Path(args.adapter), card)
        except FileNotFoundError as err:
            print(f"wpqa publish-model: {err}", file=sys.stderr)
            return 2
        verb = "would upload" if args.dry_run else "uploading"
        out.write(f"{verb} to {args.repo_id} ({'private' if args.private else 'public'}):\n")
        for path in files:
            out.write(f"  {path.name}  {path.stat().st_size:,} bytes\n")
        if args.dry_run:
            return 0
        token, problem = write_token()
        if problem:
            print(f"wpqa publish-model: {problem}", file=sys.stderr)
            return 2
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(args.repo_id, private=args.private, exist_ok=True, repo_type="model")
        commit = api.upload_folder(repo_id=args.repo_id, folder_path=tmp, repo_type="model",
                                   commit_message="wpqa publish-model")
        out.write(f"uploaded: {getattr(commit, 'commit_url', commit)}\n")
    return 0
