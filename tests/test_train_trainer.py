"""The train stage's Trainer: same semantics as a plain loop, checkpoints, resume, guard."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from wpqa import models
import torch

from tests.tiny_models import REPO, make_tiny_base, qa_rows, write_params
from train import qlora
from wpqa.io import write_jsonl
from wpqa.params import load_params
from wpqa.records import QAPair, from_row


def reference_loop(model, examples, *, lr, epochs, batch_size, warmup_ratio, seed, pad_id):
    """The stage's training semantics as a plain loop a reader can check line by line."""
    from transformers import get_cosine_schedule_with_warmup

    total = math.ceil(len(examples) / batch_size) * epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, math.ceil(warmup_ratio * total), total)
    generator = torch.Generator().manual_seed(seed)
    lengths = [len(e["input_ids"]) for e in examples]
    model.train()
    losses = []
    for _ in range(epochs):
        for indices in qlora.length_grouped_batches(lengths, batch_size, generator):
            loss = model(**qlora.collate([examples[i] for i in indices], pad_id)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    ref = make_tiny_base(root / "base", steps=40)
    tokenizer = models.load_tokenizer(ref)
    examples, _ = qlora.encode_pairs(tokenizer, [from_row(QAPair, r) for r in qa_rows(20)], 256)
    return ref, tokenizer, examples


@pytest.mark.integration
def test_trainer_reproduces_the_plain_loop_step_for_step(tiny, tmp_path):
    ref, tokenizer, examples = tiny
    params = load_params(write_params(tmp_path / "p.yaml", train={
        "epochs": 2, "batch_size": 4, "warmup_ratio": 0.2}))
    model = qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)
    expected = reference_loop(model, examples, lr=1e-2, epochs=2, batch_size=4,
                              warmup_ratio=0.2, seed=0, pad_id=tokenizer.pad_token_id)
    model = qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)
    result = qlora.train_adapter(model, examples, lr=1e-2, params=params.train, seed=0,
                                 pad_id=tokenizer.pad_token_id,
                                 checkpoint_dir=tmp_path / "ck", progress=False)
    assert len(result.losses) == 10
    assert result.losses == pytest.approx(expected, rel=1e-5)


def test_batch_sampler_epochs_depend_only_on_seed_and_epoch():
    lengths = [5, 9, 3, 7, 2, 8, 6, 4, 1, 10]
    generator = torch.Generator().manual_seed(3)
    plain = [qlora.length_grouped_batches(lengths, 3, generator) for _ in range(3)]
    sampler = qlora.LengthGroupedBatchSampler(lengths, 3, seed=3)
    for epoch in (2, 0, 1):  # any order, as after a resume
        sampler.set_epoch(epoch)
        assert list(sampler) == plain[epoch]
    assert len(sampler) == 4 == len(plain[0])


def test_loss_problem():
    assert qlora.loss_problem(1.2, 1.5, 10) is None
    assert qlora.loss_problem(float("nan"), 1.5, 10) == "the loss is nan"
    assert "inf" in qlora.loss_problem(float("inf"), None, 10)
    assert "over train.diverge_factor=10" in qlora.loss_problem(16.0, 1.5, 10)


def test_checkpoints_of_another_run_are_cleared_not_resumed(tmp_path):
    run = {"lr": 0.1, "data_sha256": "a"}
    ck = tmp_path / "ck"
    assert qlora.checkpoint_to_resume(ck, run, "auto") is None
    step4 = ck / "checkpoint-4"
    step4.mkdir()
    for name in ("trainer_state.json", "optimizer.pt", "scheduler.pt"):
        (step4 / name).write_text("{}")
    (ck / "checkpoint-6").mkdir()  # killed while saving: incomplete
    assert qlora.checkpoint_to_resume(ck, run, "auto") == step4
    from transformers.trainer_utils import get_last_checkpoint
    assert get_last_checkpoint(str(ck)) == str(ck / "checkpoint-6")  # why last_checkpoint stays
    assert qlora.checkpoint_to_resume(ck, run, "never") is None and not step4.exists()
    step4.mkdir()
    (step4 / "trainer_state.json").write_text("{}")
    assert qlora.checkpoint_to_resume(ck, {**run, "lr": 0.2}, "auto") is None
    assert not step4.exists()
    assert json.loads((ck / "run.json").read_text()) == {**run, "lr": 0.2}


@pytest.mark.integration
def test_nan_loss_stops_with_the_last_good_checkpoint(tiny, tmp_path):
    from transformers import TrainerCallback

    ref, tokenizer, examples = tiny
    params = load_params(write_params(tmp_path / "p.yaml", train={
        "epochs": 2, "batch_size": 4, "save_steps": 2}))
    model = qlora.prepare_qlora_model(qlora.load_base_4bit(ref), params.train, seed=0)

    class PoisonAfterStep3(TrainerCallback):  # a fault: one LoRA weight turns NaN
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                with torch.no_grad():
                    next(p for p in model.parameters() if p.requires_grad).fill_(float("nan"))

    with pytest.raises(qlora.TrainingDiverged) as err:
        qlora.train_adapter(model, examples, lr=1e-2, params=params.train, seed=0,
                            pad_id=tokenizer.pad_token_id, checkpoint_dir=tmp_path / "ck",
                            progress=False, extra_callbacks=(PoisonAfterStep3(),))
    message = str(err.value)
    assert "training stopped at step 4: the loss is nan" in message
    assert f"Last good checkpoint: {tmp_path / 'ck' / 'checkpoint-2'}" in message
    assert not (tmp_path / "ck" / "checkpoint-4").exists()  # the bad step was not saved


# Runs the stage with one extra callback: once checkpoint 6 is saved, it says so in a file
# and hangs, so the test kills the run at a known step however fast the machine is.
HANG_AFTER_STEP_6 = """
import sys, time
from pathlib import Path
from transformers import TrainerCallback
from train import qlora

class HangAfterStep6(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 6:
            Path(sys.argv[1]).write_text("saved")
            time.sleep(600)

train_adapter = qlora.train_adapter
qlora.train_adapter = lambda *a, **k: train_adapter(*a, extra_callbacks=(HangAfterStep6(),), **k)
sys.exit(qlora.main(sys.argv[2:]))
"""


@pytest.mark.integration
def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    make_tiny_base(tmp_path / "base", steps=20)
    write_jsonl(tmp_path / "train.jsonl", qa_rows(16))
    params = write_params(tmp_path / "p.yaml", train={  # the folder comes from params here
        "epochs": 6, "batch_size": 4, "save_steps": 3, "save_total_limit": 1,
        "checkpoint_dir": str(tmp_path / "ck")})
    args = ["--params", str(params), "--train", str(tmp_path / "train.jsonl"),
            "--base", str(tmp_path / "base"), "--out", str(tmp_path / "adapter"),
            "--metrics", str(tmp_path / "m")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    marker = tmp_path / "saved-step-6"
    first = subprocess.Popen([sys.executable, "-c", HANG_AFTER_STEP_6, str(marker), *args],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    cmd = [sys.executable, "-m", "train.qlora", *args]
    assert not (tmp_path / "adapter").exists()
    saved = qlora.last_checkpoint(tmp_path / "ck")
    step = json.loads((saved / "trainer_state.json").read_text())["global_step"]
    assert step == 6 and saved.name == "checkpoint-6"

    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"resuming from {saved}" in second.stdout
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == step and metrics["steps"] == 24
    assert f"24 steps ({24 - step} in this run)" in second.stdout
    plotted = (tmp_path / "m" / "plots" / "metrics" / "loss.tsv").read_text().splitlines()
    assert [int(line.split("\t")[0]) for line in plotted[1:]] == list(range(1, 25))


@pytest.mark.integration
def test_the_stage_trains_in_two_processes_with_gloo(tmp_path):
    """DDP over 2 CPU processes (torchrun; `accelerate launch` does the same on GPUs)."""
    make_tiny_base(tmp_path / "base", steps=5)
    write_jsonl(tmp_path / "train.jsonl", qa_rows(16))
    params = write_params(tmp_path / "p.yaml", train={"epochs": 2, "batch_size": 4})
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    run = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "train.qlora", "--params", str(params),
         "--train", str(tmp_path / "train.jsonl"), "--base", str(tmp_path / "base"),
         "--out", str(tmp_path / "adapter"), "--metrics", str(tmp_path / "m"),
         "--checkpoints", str(tmp_path / "ck")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("train: llama base") == 1  # only the main process reports
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    # 4 batches per epoch shared by 2 processes: 2 optimizer steps per epoch, not 4
    assert metrics["steps"] == 4
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
