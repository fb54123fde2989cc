"""emofeat data audit on a set with planted problems: exact duplicates (the same pixels in
another file format), near duplicates (resized, recompressed), a placeholder picture served
six times, a cross-class duplicate, an unreadable and a tiny image; the split leaks it
counts, the cleaned CSV of --drop, the hash cache, and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from cli.main import app
from emofeat.audit import AuditOptions, audit, duplicate_groups, find_findings
from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError

skimage_data = pytest.importorskip("skimage.data")
runner = CliRunner()

#: Distinct photos, one per class folder (none should be linked to another).
PHOTOS = {"amusement": "chelsea", "awe": "coffee", "contentment": "astronaut",
          "fear": "rocket", "sadness": "immunohistochemistry", "anger": "camera",
          "disgust": "coins", "excitement": "moon"}


def _photo(name: str) -> Image.Image:
    img = Image.fromarray(getattr(skimage_data, name)()).convert("RGB")
    img.thumbnail((192, 192))
    return img


def _placeholder() -> Image.Image:
    img = Image.new("RGB", (120, 90), (210, 210, 210))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 100, 60), fill=(90, 90, 90))
    draw.text((24, 66), "unavailable", fill=(0, 0, 0))
    return img


def make_planted(root: Path) -> Path:
    for label, name in PHOTOS.items():
        (root / label).mkdir(parents=True)
        _photo(name).save(root / label / f"{name}.jpg", quality=90)
    # exact: the JPEG's decoded pixels saved again as PNG, in the same class
    Image.open(root / "amusement" / "chelsea.jpg").convert("RGB").save(
        root / "amusement" / "chelsea copy.png")
    # near: half size, recompressed
    coffee = Image.open(root / "awe" / "coffee.jpg")
    coffee.resize((coffee.width // 2, coffee.height // 2)).save(root / "awe" / "small.jpg",
                                                                quality=60)
    # near: recompressed hard, same size
    Image.open(root / "contentment" / "astronaut.jpg").save(
        root / "contentment" / "astronaut-q25.jpg", quality=25)
    # cross-class: the rocket also filed under sadness (exact pixels)
    Image.open(root / "fear" / "rocket.jpg").convert("RGB").save(root / "sadness" / "rocket.png")
    # a placeholder served for six deleted photos, in several classes
    for k, label in enumerate(["anger", "anger", "disgust", "fear", "awe", "awe"]):
        _placeholder().save(root / label / f"gone-{k}.png")
    (root / "excitement" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    Image.fromarray(np.full((16, 20, 3), 128, np.uint8)).save(root / "excitement" / "tiny.png")
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_planted(tmp_path_factory.mktemp("planted") / "data")


def _groups(findings) -> list[tuple[str, set[str]]]:  # type: ignore[no-untyped-def]
    ids = findings.manifest.ids
    return [(findings.kind(g), {ids[k] for k in g.members}) for g in findings.groups]


def test_each_planted_problem_is_found(planted: Path) -> None:
    f = find_findings(load_manifest(planted))
    groups = _groups(f)
    assert ("placeholder", {"anger/gone-0.png", "anger/gone-1.png", "disgust/gone-2.png",
                            "fear/gone-3.png", "awe/gone-4.png", "awe/gone-5.png"}) in groups
    assert ("exact", {"amusement/chelsea.jpg", "amusement/chelsea copy.png"}) in groups
    assert ("exact", {"fear/rocket.jpg", "sadness/rocket.png"}) in groups
    assert ("near", {"awe/coffee.jpg", "awe/small.jpg"}) in groups
    assert ("near", {"contentment/astronaut.jpg", "contentment/astronaut-q25.jpg"}) in groups
    assert len(groups) == 5  # no distinct photo linked to another
    counts = f.counts()
    assert counts["exact_duplicates"] == {"groups": 2, "images": 4, "extra_copies": 2}
    assert counts["near_duplicates"] == {"groups": 2, "images": 4, "extra_copies": 2}
    assert counts["placeholders"] == {"groups": 1, "images": 6}
    assert counts["class_conflicts"] == {"groups": 1, "images": 2}  # the rocket
    assert counts["unreadable"] == {"images": 1} and counts["tiny"] == {"images": 1}
    assert [f.manifest.ids[k] for k in f.unreadable] == ["excitement/broken.jpg"]
    assert [f.manifest.ids[k] for k in f.tiny] == ["excitement/tiny.png"]


def test_exact_only_and_a_looser_placeholder_rule(planted: Path) -> None:
    f = find_findings(load_manifest(planted), AuditOptions(max_distance=None,
                                                           placeholder_min=7))
    assert sorted(len(g) for g in f.groups) == [2, 2, 6]
    assert f.counts()["placeholders"]["groups"] == 0  # six copies, fewer than seven


def test_audit_writes_its_files_and_counts_split_leaks(planted: Path, tmp_path: Path) -> None:
    m = load_manifest(planted)
    split = {i: "train" for i in m.ids}
    split["amusement/chelsea copy.png"] = "test"  # its twin is in train
    split["awe/small.jpg"] = "val"  # val and train: not a train/test leak
    result = audit(m, tmp_path / "a", split=split, split_source="planted")
    info = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert info == json.loads(json.dumps(result.info))
    assert info["split"] == {"source": "planted", "groups_across_train_test": 1,
                             "images_in_those_groups": 2,
                             "test_images_with_a_copy_outside_test": 1}
    assert info["n_images"] == len(m) and info["seconds_per_1000_images"] > 0
    with open(tmp_path / "a" / "groups.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 14
    assert {r["class_conflict"] for r in rows if "rocket" in r["id"]} == {"yes"}
    with open(tmp_path / "a" / "flagged.csv", newline="") as fh:
        reasons = {(r["id"], r["reason"]) for r in csv.DictReader(fh)}
    assert ("excitement/broken.jpg", "unreadable") in reasons
    assert ("sadness/rocket.png", "class conflict") in reasons
    page = (tmp_path / "a" / "audit.html").read_text()
    assert page.count("data:image/jpeg;base64,") >= 14 and "placeholders (1 group;" in page


def test_drop_writes_a_clean_list_the_csv_reader_takes(tmp_path: Path) -> None:
    root = make_planted(tmp_path / "data")
    result = runner.invoke(app, ["data", "audit", str(root), "--out", str(tmp_path / "a"),
                                 "--drop", "duplicates,placeholders,unreadable"])
    assert result.exit_code == 0, result.output
    clean = root / "emofeat-clean.csv"
    assert f"{clean}: " in result.output and "images dropped: duplicates 4, placeholders 6, " \
        "unreadable 1" in result.output
    kept = load_manifest(clean)
    before = load_manifest(root)
    assert len(kept) == len(before) - 11
    assert set(kept.ids) <= set(before.ids)  # the same ids
    assert "amusement/chelsea.jpg" in kept.ids or "amusement/chelsea copy.png" in kept.ids
    assert "awe/coffee.jpg" in kept.ids and "awe/small.jpg" not in kept.ids  # the larger
    assert not any("gone-" in i for i in kept.ids)
    assert not find_findings(kept, AuditOptions(placeholder_min=5)).groups


def test_the_hash_cache_is_reused_and_follows_changes(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_planted(tmp_path / "data")
    m = load_manifest(root)
    audit(m, tmp_path / "a")
    from emofeat.audit import hashes

    decoded: list[str] = []
    real = hashes.hash_image
    monkeypatch.setattr(hashes, "hash_image",
                        lambda i, p: decoded.append(i) or real(i, p))
    Image.new("RGB", (64, 64), (255, 0, 0)).save(root / "anger" / "camera.jpg")  # changed
    again = audit(load_manifest(root), tmp_path / "a")
    assert decoded == ["anger/camera.jpg"]
    assert again.info["counts"] == audit(load_manifest(root), tmp_path / "b").info["counts"]


def test_duplicate_groups_name_every_image(planted: Path) -> None:
    m = load_manifest(planted)
    groups = duplicate_groups(m)
    named = dict(zip(m.ids, groups, strict=True))
    assert named["fear/rocket.jpg"] == named["sadness/rocket.png"] != named["fear/gone-3.png"]
    assert named["anger/camera.jpg"] == "anger/camera.jpg"  # a group of its own


@pytest.mark.parametrize("args, message", [
    (["--drop", "twins"], "--drop: unknown reason(s) twins; valid: duplicates"),
    (["--drop", "tiny", "--clean", "/tmp/elsewhere.csv"], "must be in the data set's folder"),
    (["--max-distance", "40"], "--max-distance must be 0-32"),
    (["--cosine", "0.9"], "--cosine and --layer need --store"),
])
def test_bad_input_is_one_line_and_exit_2(planted: Path, tmp_path: Path, args: list[str],
                                          message: str) -> None:
    result = runner.invoke(app, ["data", "audit", str(planted), "--out", str(tmp_path / "a"),
                                 *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "a" / "audit.json").exists()


def test_unknown_drop_reason_in_the_library(planted: Path, tmp_path: Path) -> None:
    with pytest.raises(EmofeatError, match="unknown reason"):
        audit(load_manifest(planted), tmp_path / "a", drop=["nope"])


def test_store_features_link_images_by_cosine(planted: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = runner.invoke(app, ["-q", "extract", str(planted), "--out", str(store),
                                 "--backbone", "tf_efficientnet_lite0", "--weights", "random",
                                 "--layers", "bn2", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    m = load_manifest(planted)
    loose = find_findings(m, AuditOptions(max_distance=None, placeholder_min=99,
                                          min_similarity=1e-6), store=store)
    readable = len(m) - 1  # broken.jpg is in no store
    assert [len(g) for g in loose.groups] == [readable] and "features" in loose.groups[0].links
    strict = find_findings(m, AuditOptions(max_distance=None, min_similarity=1.0), store=store)
    assert all(g.exact for g in strict.groups)  # only identical pixels have cosine 1
    with pytest.raises(EmofeatError, match="--cosine needs --store"):
        find_findings(m, AuditOptions(min_similarity=0.9))


def test_low_contrast_copies_are_found_by_their_thumbnail(tmp_path: Path) -> None:
    """A low-contrast image's perceptual hash is noise; its copies are linked by their
    thumbnail and colour, and a flat image of another colour or a dim one with its shape
    elsewhere is not."""
    rng = np.random.default_rng(0)
    root = tmp_path / "flat"
    for label in ("awe", "fear"):
        (root / label).mkdir(parents=True)
    grey = np.clip(rng.normal(120, 2.5, (90, 120, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(grey).save(root / "awe" / "grey.jpg", quality=92)
    Image.fromarray(grey).resize((60, 45)).save(root / "awe" / "grey small.jpg", quality=70)
    blue = np.clip(rng.normal((40, 60, 160), 2.5, (90, 120, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(blue).save(root / "fear" / "blue.jpg", quality=92)
    _photo("chelsea").save(root / "fear" / "chelsea.jpg")
    for name, box in (("dim", (10, 10, 60, 50)), ("dim other", (60, 40, 110, 80))):
        dim = np.clip(rng.normal(60, 2.0, (90, 120, 3)), 0, 255)
        dim[box[1]:box[3], box[0]:box[2]] += 12  # a faint shape: too weak for the hash
        Image.fromarray(dim.astype(np.uint8)).save(root / "fear" / f"{name}.jpg", quality=90)
    Image.open(root / "fear" / "dim.jpg").resize((80, 60)).save(root / "fear" / "dim copy.jpg",
                                                                quality=75)
    f = find_findings(load_manifest(root))
    low = {h.id: h.low_contrast for h in f.hashes}
    assert low == {"awe/grey.jpg": True, "awe/grey small.jpg": True, "fear/blue.jpg": True,
                   "fear/chelsea.jpg": False, "fear/dim.jpg": True, "fear/dim copy.jpg": True,
                   "fear/dim other.jpg": True}
    assert sorted(_groups(f), key=str) == [("near", {"awe/grey.jpg", "awe/grey small.jpg"}),
                                           ("near", {"fear/dim copy.jpg", "fear/dim.jpg"})]
    assert all(g.links == ("thumbnail",) for g in f.groups)
