"""open_clip backbones and zero-shot runs, offline: a tiny open_clip model (random weights,
a one-layer text tower) registered by the test, and the tiny demo set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emofeat.cli.main import app

open_clip = pytest.importorskip("open_clip")

TINY = "emofeat-test-tiny-clip"
MODEL = f"open_clip:{TINY}"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A tiny CLIP: ViT of 2 blocks (width 32, 32 px, patch 8) and a 1-layer text tower."""
    path = tmp_path_factory.mktemp("clip") / f"{TINY}.json"
    path.write_text(json.dumps({
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8,
                       "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2,
                     "layers": 1}}))
    open_clip.add_model_config(path)


def cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def clip_store(tiny_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip-store") / "s"
    result = cli("-q", "extract", str(tiny_demo), "--out", str(out), "--backbone", MODEL,
                 "--weights", "random", "--layers", "visual.transformer.resblocks.1,embedding",
                 "--pooling", "cls+avg", "--workers", "0")
    assert result.exit_code == 0, result.output
    return out


def test_open_clip_store_records_preprocessing_and_pools_tokens(clip_store: Path) -> None:
    meta = json.loads((clip_store / "store.json").read_text())
    assert meta["backbone"] == MODEL and meta["weights"]["source"] == "random"
    cfg = meta["data_config"]
    assert cfg["input_size"] == [3, 32, 32] and cfg["interpolation"] == "bicubic"
    assert cfg["crop_mode"] == "center" and cfg["crop_pct"] == 1.0
    assert cfg["mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    dims = {la["name"]: la["dim"] for la in meta["layers"]}
    assert dims == {"visual.transformer.resblocks.1": 64, "embedding": 16}  # cls+avg: 2 x 32
    assert meta["prefix_tokens"] == 1


def test_cls_pooling_is_the_class_token_and_avg_the_patch_tokens() -> None:
    import torch

    from emofeat.backbones import create_backbone, tap

    model, _ = create_backbone(MODEL, "random")
    x = torch.rand(2, 3, 32, 32)
    block = "visual.transformer.resblocks.0"
    seen = {}
    handle = dict(model.named_modules())[block].register_forward_hook(
        lambda _m, _i, o: seen.setdefault("tokens", o.detach()))
    with tap(model, [block], "cls+avg") as pooled:
        model(x)
    handle.remove()
    tokens = seen["tokens"]
    expected = torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=1)
    assert torch.allclose(pooled[block], expected)


def test_layers_lists_an_open_clip_towers_blocks() -> None:
    result = cli("layers", MODEL)
    assert result.exit_code == 0, result.output
    assert "visual.transformer.resblocks.1 *" in result.output and "embedding *" in result.output


def test_token_pooling_on_a_cnn_or_siglip_is_one_line(tiny_demo: Path, tmp_path: Path) -> None:
    result = cli("extract", str(tiny_demo), "--out", str(tmp_path / "s"), "--backbone",
                 "tf_efficientnet_lite0", "--weights", "random", "--layers", "bn2",
                 "--pooling", "cls")
    assert result.exit_code == 2 and "pooling 'cls' needs token layers" in result.stderr
    assert not (tmp_path / "s" / "store.json").exists()


def test_unknown_open_clip_names_list_valid_ones() -> None:
    from emofeat.backbones import check_backbone_name
    from emofeat.errors import EmofeatError

    with pytest.raises(EmofeatError, match=r"open_clip has no model 'ViT-B-31'.*did you mean "
                                           r"ViT-B-32.*valid: .*ViT-L-14"):
        check_backbone_name("open_clip:ViT-B-31")
    with pytest.raises(EmofeatError, match=r"ViT-B-32 has no pretrained weights 'nope'; valid: "
                                           r".*openai"):
        check_backbone_name("open_clip:ViT-B-32/nope")
    result = cli("layers", "open_clip:ViT-B-31")
    assert result.exit_code == 2 and "did you mean ViT-B-32" in result.stderr


def test_hub_weights_without_network_fail_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    result = cli("zeroshot", str(tmp_path), "--model", "open_clip:ViT-B-32/laion2b_s34b_b79k",
                 "--out", str(tmp_path / "r"))
    assert result.exit_code == 2, result.output
    assert "could not get hub weights for open_clip:ViT-B-32/laion2b_s34b_b79k" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) <= 2


def test_zeroshot_logits_match_a_hand_computation(clip_store: Path, tmp_path: Path) -> None:
    import torch

    from emofeat.backbones.openclip import create_open_clip
    from emofeat.runs import Run
    from emofeat.store import Store
    from emofeat.taxonomy import EMOTIONS
    from emofeat.zeroshot import DEFAULT_PROMPTS, ZeroshotConfig, zeroshot

    zeroshot(clip_store, tmp_path / "r", ZeroshotConfig(model=MODEL, task="emotion8"))
    run = Run.open(tmp_path / "r")
    clip, _ = create_open_clip(MODEL, "random")
    tok = open_clip.get_tokenizer(TINY)
    with torch.no_grad():
        per_template = []
        for t in DEFAULT_PROMPTS.templates:
            rows = []
            for c in EMOTIONS:
                e = clip.encode_text(tok([t.format(w) for w in DEFAULT_PROMPTS.synonyms[c]]))
                e = (e / e.norm(dim=-1, keepdim=True)).mean(dim=0)
                rows.append(e / e.norm())
            per_template.append(torch.stack(rows))
        text = torch.stack(per_template).mean(dim=0)
        text = text / text.norm(dim=-1, keepdim=True)
        store = Store.open(clip_store)
        image = torch.from_numpy(store.load("embedding")).double()
        image = image / image.norm(dim=-1, keepdim=True)
        probs = (clip.logit_scale.exp().double() * image @ text.double().T).softmax(dim=1)
    preds = run.predictions()
    rows = [store.ids.index(i) for i in preds.ids]
    assert np.allclose(preds.scores, probs.numpy()[rows], atol=2e-6)
    assert run.record.logit_scale == pytest.approx(float(clip.logit_scale.detach().exp()))
    assert len(run.record.prompt_table) == len(DEFAULT_PROMPTS.templates) + 1


def test_other_prompts_change_the_hash_and_the_runs_settings(clip_store: Path,
                                                             tmp_path: Path) -> None:
    prompts = tmp_path / "p.toml"
    prompts.write_text('templates = ["an image of {}", "{} in a photo"]\n'
                       '[synonyms]\npositive = ["joy"]\n')
    first = cli("zeroshot", str(clip_store), "--model", MODEL, "--task", "valence", "--out",
                str(tmp_path / "r"))
    assert first.exit_code == 0, first.output
    again = cli("zeroshot", str(clip_store), "--model", MODEL, "--task", "valence",
                "--prompts", str(prompts), "--out", str(tmp_path / "r"))
    assert again.exit_code == 2 and "prompt_sha256: run has" in again.stderr
    chosen = cli("zeroshot", str(clip_store), "--model", MODEL, "--task", "valence",
                 "--prompts", str(prompts), "--prompt-choice", "best-on-val",
                 "--out", str(tmp_path / "r2"))
    assert chosen.exit_code == 0, chosen.output
    one = json.loads((tmp_path / "r" / "run.json").read_text())
    two = json.loads((tmp_path / "r2" / "run.json").read_text())
    assert one["prompt_sha256"] != two["prompt_sha256"]
    assert one["request"]["prompt_sha256"] == one["prompt_sha256"]
    assert two["prompts"]["synonyms"] == {"negative": ["negative"], "positive": ["joy"]}
    assert two["chosen_on"] == "val" and two["chosen"] in two["prompts"]["templates"]
    assert "chosen_on" not in one and one["chosen"] == "ensemble"
    bad = tmp_path / "bad.toml"
    bad.write_text('templates = ["no slot"]\n')
    result = cli("zeroshot", str(clip_store), "--model", MODEL, "--prompts", str(bad),
                 "--out", str(tmp_path / "r3"))
    assert result.exit_code == 2 and "needs exactly one {} for the class" in result.stderr


def test_zeroshot_end_to_end_predict_evaluate_compare(tiny_demo: Path, clip_store: Path,
                                                      tmp_path: Path) -> None:
    """Zero-shot from the images and a linear probe of the same tower -> compare shows the
    zero-shot family, its gap to the probe and the prompt table; predict reads the run."""
    runs = tmp_path / "runs"
    result = cli("zeroshot", str(tiny_demo), "--model", MODEL, "--weights", "random",
                 "--task", "valence", "--workers", "0", "--splits",
                 str(clip_store / "splits.csv"), "--out", str(runs / "zeroshot"))
    assert result.exit_code == 0, result.output
    assert "prompt sensitivity" in result.output and "a photo of {}." in result.output
    fit = cli("-q", "fit", str(clip_store), "--model", "logreg", "--task", "valence",
              "--layer", "embedding", "--jobs", "1", "--out", str(runs / "probe"))
    assert fit.exit_code == 0, fit.output
    report = cli("compare", str(runs), "--out", str(tmp_path / "report"))
    assert report.exit_code == 0, report.output
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| zero-shot (text prompts) | zeroshot |" in md
    assert f"zero-shot vs logreg probe of the same image tower ({MODEL})" in md
    assert "### Prompt sensitivity (zero-shot)" in md and "| zeroshot | ensemble |" in md
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Prompt sensitivity (zero-shot)" in html
    from emofeat.report import plots
    from emofeat.report.families import family
    from emofeat.report.model import read_report

    task = read_report(tmp_path / "report" / "report.json").tasks["valence"]
    zs = family("zeroshot")
    assert (zs.label, zs.colour) in [(b.label, b.colour) for b in plots.transfer_data(
        task.transfer)]
    assert zs.label in [s.label for s in plots.per_class_data(task)]
    image = next(tiny_demo.rglob("*.jpg"))
    predicted = cli("predict", str(runs / "zeroshot"), str(image))
    assert predicted.exit_code == 0, predicted.output
    assert "positive" in predicted.output or "negative" in predicted.output
    evaluated = cli("evaluate", str(runs / "zeroshot"), str(tiny_demo), "--split", "test",
                    "--splits", str(clip_store / "splits.csv"), "--out", str(tmp_path / "ev"))
    assert evaluated.exit_code == 0, evaluated.output
    from emofeat.runs import Run, read_predictions

    own = Run.open(runs / "zeroshot").predictions().select("test")
    ev = read_predictions(tmp_path / "ev" / "predictions.csv", own.classes)
    order = [ev.ids.index(i) for i in own.ids]  # the same images, the same scores
    assert np.allclose(ev.scores[order], own.scores, atol=1e-5)


EXPERIMENT = f"""
[data]
demo = true
demo_per_class = 6
demo_size = 48

[split]
fractions = [0.5, 0.25, 0.25]

[[extract]]
name = "clip"
backbone = "{MODEL}"
weights = "random"
workers = 0

[fit]
models = ["logreg"]
tasks = ["valence"]
layers = ["embedding"]
jobs = 1

[zeroshot]
stores = ["clip"]

[finetune]
enabled = false

[baselines]
colour = false
"""


def test_run_config_with_a_zeroshot_step(tmp_path: Path) -> None:
    from emofeat.experiment import run_experiment

    config = tmp_path / "exp.toml"
    config.write_text(EXPERIMENT)
    report = run_experiment(config, tmp_path / "out")
    run_dir = tmp_path / "out" / "runs" / "clip" / "zeroshot-valence"
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "zeroshot"
    assert "zeroshot" in report["tasks"]["valence"]["transfer"]["best_of_family"]
    before = (run_dir / "run.json").read_bytes()
    run_experiment(config, tmp_path / "out")  # complete and made the same way: kept
    assert (run_dir / "run.json").read_bytes() == before


def test_zeroshot_step_needs_an_open_clip_store(tmp_path: Path) -> None:
    config = tmp_path / "exp.toml"
    config.write_text(EXPERIMENT.replace(f'backbone = "{MODEL}"',
                                         'backbone = "tf_efficientnet_lite0"'))
    result = cli("run", str(config), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "[zeroshot]: store 'clip' is of tf_efficientnet_lite0" in result.stderr


def test_timm_vit_towers_tap_the_class_token_and_refuse_it_without_one() -> None:
    import timm
    import torch

    from emofeat.backbones import check_pooling, probe_layers, tap
    from emofeat.errors import EmofeatError

    with torch.random.fork_rng():
        torch.manual_seed(0)
        dino = timm.create_model("vit_small_patch14_dinov2", img_size=28).eval()
    x = torch.rand(2, 3, 28, 28)
    with tap(dino, ["blocks.11"], "cls") as pooled, torch.no_grad():
        tokens = dino.forward_intermediates(x, indices=[11], output_fmt="NLC",
                                            return_prefix_tokens=True, intermediates_only=True)
    assert torch.allclose(pooled["blocks.11"], tokens[0][1][:, 0], atol=1e-6)
    no_cls = timm.create_model("vit_tiny_patch16_224", img_size=32, class_token=False,
                               global_pool="avg")  # as SigLIP: no class token
    layers = probe_layers(no_cls, (3, 32, 32), ["blocks.11"])
    check_pooling(no_cls, layers, "avg")
    with pytest.raises(EmofeatError, match="has no class token"):
        check_pooling(no_cls, layers, "cls+avg")


def test_without_open_clip_a_command_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "open_clip", None)  # import open_clip raises
    for args in (["layers", "open_clip:ViT-B-32"],
                 ["zeroshot", str(tmp_path), "--model", "open_clip:ViT-B-32", "--out",
                  str(tmp_path / "r")]):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "pip install 'emofeat[clip]'" in result.stderr and "Traceback" not in result.output


def test_open_clip_weights_from_a_file_are_loaded_and_hashed(tmp_path: Path) -> None:
    import torch

    from emofeat.backbones.openclip import create_open_clip
    from emofeat.errors import EmofeatError
    from emofeat.hashing import sha256_file

    trained, _ = create_open_clip(MODEL, "random", seed=5)
    path = tmp_path / "tiny.pt"
    torch.save(trained.state_dict(), path)
    model, info = create_open_clip(MODEL, str(path))
    assert info.source == "file" and info.sha256 == sha256_file(path)
    assert torch.equal(model.visual.conv1.weight, trained.visual.conv1.weight)
    torch.save({"visual.conv1.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(EmofeatError, match="do not fit open_clip"):
        create_open_clip(MODEL, str(tmp_path / "other.pt"))
