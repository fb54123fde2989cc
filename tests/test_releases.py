"""Readers of the published affective image sets, on small replicas of each release layout.

Every replica is built here: a few tiny generated images plus annotation files in the
release's own format, with a missing image, an unlisted one or a tie where the format can
have them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from emofeat.datasets import describe, detect_format, load_manifest
from emofeat.datasets.tasks import manifest_task_labels
from emofeat.errors import EmofeatError
from emofeat.splits import make_split, release_split, split_source
from emofeat.taxonomy import get_task

from .conftest import write_image

# --------------------------------------------------------------------------- replicas


def make_emoset(root: Path) -> Path:
    """EmoSet-118K: split lists, info.json, image/ and annotation/ per emotion."""
    info = {
        "emotion": {"label2idx": {e: i for i, e in enumerate(
            ["amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear",
             "sadness"])}, "idx2label": {}},
        "scene": {"label2idx": {"beach": 0, "street": 1}, "idx2label": {}},
    }
    (root / "info.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "info.json").write_text(json.dumps(info))
    annotations = {
        "amusement_00000": {"emotion": "amusement", "brightness": 0.4, "colorfulness": 0.7,
                            "scene": "beach", "object": ["person", "dog"],
                            "facial_expression": "happy", "human_action": "playing"},
        "amusement_00001": {"emotion": "amusement", "brightness": 0.6, "colorfulness": 0.5,
                            "scene": "street"},
        "fear_00000": {"emotion": "fear", "brightness": 0.1, "colorfulness": 0.2},
        "fear_00001": {"emotion": "fear", "object": ["spider"]},
        "awe_00000": {"emotion": "awe", "scene": "mountain"},
        "sadness_00000": {"emotion": "sadness"},
        # awe_00001 is listed but has no image; sadness_00001 has no annotation file
    }
    splits = {
        "train": ["amusement_00000", "fear_00000", "awe_00000", "sadness_00001"],
        "val": ["fear_00001"],
        "test": ["amusement_00001", "sadness_00000", "awe_00001"],
    }
    for seed, (split, names) in enumerate(splits.items()):
        entries = []
        for k, name in enumerate(names):
            emotion = name.split("_")[0]
            image, annotation = f"image/{emotion}/{name}.jpg", f"annotation/{emotion}/{name}.json"
            entries.append([emotion, name, image, annotation])
            if name != "awe_00001":
                write_image(root / image, seed * 10 + k, size=8)
            if name in annotations:
                path = root / annotation
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(annotations[name]))
        (root / f"{split}.json").write_text(json.dumps(entries))
    write_image(root / "image" / "fear" / "fear_09999.jpg", 99, size=8)  # in no list
    return root


EMOTION6_HEADER = ("[image_filename]\t[valence]\t[arousal]\t[prob. anger]\t[prob. disgust]\t"
                   "[prob. fear]\t[prob. joy]\t[prob. sadness]\t[prob. surprise]\t"
                   "[prob. neutral]\n")


def make_emotion6(root: Path) -> Path:
    rows = [
        ("anger/1.jpg", 2.5, 6.1, [0.6, 0.1, 0.1, 0.0, 0.1, 0.0, 0.1]),
        ("joy/1.jpg", 7.8, 5.0, [0.0, 0.0, 0.0, 0.8, 0.0, 0.1, 0.1]),
        ("joy/2.jpg", 6.9, 4.2, [0.0, 0.0, 0.0, 0.7, 0.0, 0.1, 0.2]),
        ("surprise/4.jpg", 5.5, 7.3, [0.0, 0.0, 0.2, 0.1, 0.0, 0.6, 0.1]),
        ("sadness/9.jpg", 2.0, 3.0, [0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.1]),  # no image
    ]
    lines = [EMOTION6_HEADER]
    for k, (name, valence, arousal, probs) in enumerate(rows):
        lines.append("\t".join([name, f"{valence}", f"{arousal}", *map(str, probs)]) + "\n")
        if not name.startswith("sadness"):
            write_image(root / "images" / name, k, size=8)
    write_image(root / "images" / "fear" / "3.jpg", 50, size=8)  # not in ground_truth.txt
    (root / "ground_truth.txt").write_text("".join(lines))
    return root


ABSTRACT_CSV = """\
'','Amusement','Anger','Awe','Content','Disgust','Excitement','Fear','Sad'
'1.jpg',0,1,2,9,0,1,0,1
'2.jpg',1,0,0,1,0,0,6,6
'3.jpg',0,0,1,0,0,0,2,10
'4.jpg',8,0,0,0,0,2,0,0
'5.jpg',0,5,0,0,0,0,0,0
"""


def make_abstract(root: Path) -> Path:
    for k in (1, 2, 3, 4, 6):  # 5.jpg is listed but absent, 6.jpg present but unlisted
        write_image(root / f"{k}.jpg", k, size=8)
    (root / "ABSTRACT_groundTruth.csv").write_text(ABSTRACT_CSV)
    return root


def make_artphoto(root: Path) -> Path:
    for k, name in enumerate(["amusement_12.jpg", "sad_3.jpg", "Content_2.jpg", "fear_1.jpg",
                              "excitement_7.jpg", "misc_1.jpg"]):
        write_image(root / name, k, size=8)
    (root / "ReadMe.rtf").write_text("{\\rtf1 ArtPhoto}")
    return root


TWITTER = {  # image -> (label, agree level); 7.jpg is listed but absent
    "1.jpg": (1, 5), "2.jpg": (0, 5), "3.jpg": (1, 4), "4.jpg": (0, 4), "5.jpg": (1, 3),
    "6.jpg": (0, 3), "7.jpg": (1, 5),
}


def make_twitter(root: Path) -> Path:
    names = {3: "twitter_three_agrees.txt", 4: "twitter_four_agrees.txt",
             5: "twitter_five_agrees.txt"}
    for level, file_name in names.items():
        lines = [f"{n} {lab}\n" for n, (lab, agree) in TWITTER.items() if agree >= level]
        path = root / "ground_truth" / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
    for k, name in enumerate(TWITTER):
        if name != "7.jpg":
            write_image(root / "images" / name, k, size=8)
    write_image(root / "images" / "8.jpg", 8, size=8)  # in no ground-truth file
    return root


OASIS_CSV = """\
"",Theme,Category,Source,Valence_mean,Valence_SD,Valence_N,Arousal_mean,Arousal_SD,Arousal_N
1,Acorns 1,Object,Pixabay,4.686,0.903,102,2.175,1.466,103
2,Alcohol 7,Object,Pixabay,3.105,1.2,95,3.2,1.5,100
3,Baby 2 ,Person,Pixabay,6.5,0.8,101,4.9,1.7,99
4,Wall 1,Object,Pixabay,4.0,1.0,100,1.5,0.9,100
5,Lake 9,Scene,Pixabay,5.9,1.0,100,3.0,1.0,100
"""


def make_oasis(root: Path) -> Path:
    for k, theme in enumerate(["Acorns 1", "Alcohol 7", "Baby 2", "Wall 1", "Dog 3"]):
        write_image(root / "images" / f"{theme}.jpg", k, size=8)  # Lake 9 missing, Dog 3 extra
    (root / "OASIS.csv").write_text(OASIS_CSV)
    return root


MAKERS = {"emoset": make_emoset, "emotion6": make_emotion6, "abstract": make_abstract,
          "artphoto": make_artphoto, "twitter1": make_twitter, "oasis": make_oasis}


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("releases")
    return {name: make(base / name) for name, make in MAKERS.items()}


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("fmt", list(MAKERS))
def test_each_release_is_detected(releases: dict[str, Path], fmt: str) -> None:
    assert detect_format(releases[fmt]) == fmt
    assert load_manifest(releases[fmt]).format == fmt


def test_existing_formats_are_not_taken_for_releases(tmp_path: Path, tiny_demo: Path) -> None:
    tree = tmp_path / "fi"
    write_image(tree / "sad" / "a.jpg", 1, size=8)
    write_image(tree / "awe" / "b.jpg", 2, size=8)
    write_image(tree / "fear_cover.jpg", 3, size=8)  # an emotion-named image at the top
    (tree / "info.json").write_text("{}")  # half an EmoSet marker set
    (tree / "ground_truth.txt").write_text("notes")  # no images/ folder beside it
    assert detect_format(tree) == "folder"
    assert detect_format(tiny_demo) == "demo"
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\nfi/sad/a.jpg,sad\n")
    assert detect_format(csv) == "csv"
    flat = tmp_path / "flat"
    write_image(flat / "holiday.jpg", 4, size=8)
    with pytest.raises(EmofeatError, match="cannot tell the format"):
        detect_format(flat)


# --------------------------------------------------------------------------- EmoSet


def test_emoset(releases: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        m = load_manifest(releases["emoset"])
    assert "1 images have no annotation file" in caplog.text
    assert len(m) == 7
    assert m.counts() == {"amusement": 2, "awe": 1, "fear": 2, "sadness": 2}
    assert m.dropped == {"listed but missing": 1, "present but not listed": 1}
    row = {k: dict(zip(m.extra, v, strict=True))
           for k, v in zip(m.ids, zip(*m.extra.values(), strict=True), strict=True)}
    first = row["image/amusement/amusement_00000.jpg"]
    assert first == {"split": "train", "brightness": "0.4", "colorfulness": "0.7",
                     "scene": "beach", "object": "person;dog", "facial_expression": "happy",
                     "human_action": "playing"}
    assert row["image/fear/fear_00001.jpg"]["object"] == "spider"
    assert row["image/fear/fear_00001.jpg"]["scene"] == ""
    assert set(row["image/sadness/sadness_00001.jpg"].values()) == {"train", ""}


def test_emoset_own_split_is_used(releases: dict[str, Path],
                                  caplog: pytest.LogCaptureFixture) -> None:
    m = load_manifest(releases["emoset"])
    own = release_split(m)
    assert own is not None
    test_ids = [e[2] for e in json.loads((releases["emoset"] / "test.json").read_text())]
    assert own.ids("test") == sorted(i for i in test_ids if i in m.ids)
    assert own.counts() == {"train": 4, "val": 1, "test": 2}
    with caplog.at_level(logging.INFO):
        made = make_split(m, (0.6, 0.2, 0.2), seed=5)
    assert made.assignment == own.assignment and made.sha256 == own.sha256
    assert "release's own" in caplog.text and "ignored" in caplog.text
    assert split_source(m) == "the emoset release's own split"
    assert release_split(load_manifest(releases["abstract"])) is None


def test_a_bad_release_split_is_refused(releases: dict[str, Path]) -> None:
    from dataclasses import replace

    m = load_manifest(releases["emoset"])
    bad = replace(m, extra={**m.extra, "split": ("train",) * (len(m) - 1) + ("holdout",)})
    with pytest.raises(EmofeatError, match="holdout"):
        release_split(bad)


# --------------------------------------------------------------------------- Emotion6


def test_emotion6(releases: dict[str, Path]) -> None:
    m = load_manifest(releases["emotion6"])
    assert m.ids == ("images/anger/1.jpg", "images/joy/1.jpg", "images/joy/2.jpg",
                     "images/surprise/4.jpg")
    assert m.labels == ("anger", "joy", "joy", "surprise")  # Emotion6's own, not Mikels'
    assert m.dropped == {"listed but missing": 1, "present but not listed": 1}
    assert m.extra["valence_score"] == (2.5, 7.8, 6.9, 5.5)
    assert m.extra["arousal_score"] == (6.1, 5.0, 4.2, 7.3)
    assert m.extra["prob_joy"] == (0.0, 0.8, 0.7, 0.1)
    assert m.extra["prob_neutral"] == (0.1, 0.1, 0.2, 0.1)
    assert list(m.extra) == ["valence_score", "arousal_score", "prob_anger", "prob_disgust",
                             "prob_fear", "prob_joy", "prob_sadness", "prob_surprise",
                             "prob_neutral", "label_folder", "label_ratings"]
    assert m.extra["label_ratings"] == ("anger", "joy", "joy", "surprise")
    task = get_task("label", m.labels)
    assert task.classes == ("anger", "joy", "surprise")
    with pytest.raises(EmofeatError, match="joy"):
        get_task("emotion8", m.labels)


# --------------------------------------------------------------------------- Abstract


def test_abstract(releases: dict[str, Path]) -> None:
    m = load_manifest(releases["abstract"])
    assert m.ids == ("1.jpg", "3.jpg", "4.jpg")
    assert m.labels == ("contentment", "sadness", "amusement")
    assert m.dropped == {"tied votes": 1, "listed but missing": 1,
                         "present but not listed": 1}
    assert m.extra["votes"] == (14, 13, 10)
    assert m.extra["share_contentment"][0] == pytest.approx(9 / 14)
    assert m.extra["share_sadness"][1] == pytest.approx(10 / 13)
    assert sorted(k for k in m.extra if k.startswith("share_")) == [
        "share_amusement", "share_anger", "share_awe", "share_contentment", "share_disgust",
        "share_excitement", "share_fear", "share_sadness"]
    assert get_task("emotion8", m.labels).encode(m.labels).tolist() == [3, 7, 0]


# --------------------------------------------------------------------------- ArtPhoto


def test_artphoto(releases: dict[str, Path]) -> None:
    m = load_manifest(releases["artphoto"])
    assert dict(zip(m.ids, m.labels, strict=True)) == {
        "Content_2.jpg": "contentment", "amusement_12.jpg": "amusement",
        "excitement_7.jpg": "excitement", "fear_1.jpg": "fear", "sad_3.jpg": "sadness"}
    assert m.dropped == {"no emotion prefix in the file name": 1, "not an image file": 1}


# --------------------------------------------------------------------------- Twitter I


def test_twitter_agreement_files_nest(releases: dict[str, Path]) -> None:
    root = releases["twitter1"]
    by_level = {k: load_manifest(root, min_agree=k) for k in (3, 4, 5)}
    default = load_manifest(root)
    assert default.ids == by_level[3].ids
    assert set(by_level[5].ids) < set(by_level[4].ids) < set(by_level[3].ids)
    assert by_level[3].ids == tuple(f"images/{k}.jpg" for k in range(1, 7))
    assert by_level[5].ids == ("images/1.jpg", "images/2.jpg")
    assert by_level[3].extra["agree"] == (5, 5, 4, 4, 3, 3)
    assert by_level[3].labels == ("positive", "negative") * 3
    assert by_level[3].dropped == {"listed but missing": 1, "present but not listed": 1}
    assert by_level[4].dropped == {"agree < 4": 2, "listed but missing": 1,
                                   "present but not listed": 1}
    assert by_level[5].dropped["agree < 5"] == 4
    assert load_manifest(root, min_agree=2).ids == by_level[3].ids
    valence = get_task("valence", default.labels)
    assert valence.encode(default.labels).tolist() == [1, 0] * 3
    with pytest.raises(EmofeatError, match="positive"):
        get_task("emotion8", default.labels)


# --------------------------------------------------------------------------- OASIS


def test_oasis_threshold(releases: dict[str, Path]) -> None:
    m = load_manifest(releases["oasis"])
    assert dict(zip(m.ids, m.labels, strict=True)) == {
        "images/Acorns 1.jpg": "positive",  # 4.686 > 4
        "images/Alcohol 7.jpg": "negative",  # 3.105 < 4
        "images/Baby 2.jpg": "positive",  # theme with a trailing space
        "images/Wall 1.jpg": "neutral",  # exactly 4: kept for the rating tasks
    }
    assert m.dropped == {"listed but missing": 1, "present but not listed": 1}
    assert m.extra["valence_score"] == (4.686, 3.105, 6.5, 4.0)
    assert m.extra["arousal_score"] == (2.175, 3.2, 4.9, 1.5)
    assert m.extra["category"] == ("Object", "Object", "Person", "Object")
    valence = manifest_task_labels(m, "valence")
    assert valence.labels == ("positive", "negative", "positive", None)
    assert valence.left_out == {"neutral rating (exactly the midpoint 4), no binary valence": 1}
    assert manifest_task_labels(m, "label").task.classes == ("negative", "positive")


# --------------------------------------------------------------------------- describe


def test_describe(releases: dict[str, Path]) -> None:
    info = describe(load_manifest(releases["emoset"]))
    assert info["format"] == "emoset" and info["n_images"] == 7
    assert info["split_source"] == "release"
    assert info["split_counts"] == {"train": 4, "val": 1, "test": 2}
    assert info["splits"]["fear"] == {"train": 1, "val": 1, "test": 0}
    assert info["attributes"]["scene"] == {"annotated": 3, "distinct": 3}
    assert info["dropped"] == {"listed but missing": 1, "present but not listed": 1}
    json.dumps(info)

    m = load_manifest(releases["emotion6"])
    info = describe(m)
    assert info["split_source"] == "none" and "splits" not in info
    assert info["ratings"]["valence_score"] == {"n": 4, "min": 2.5, "max": 7.8,
                                                "mean": pytest.approx(5.675)}
    assert info["counts"] == {"anger": 1, "joy": 2, "surprise": 1}
    given = describe(m, make_split(m, (0.5, 0.0, 0.5)))
    assert given["split_source"] == "given"
    assert sum(given["split_counts"].values()) == 4
    assert split_source(m) == "seeded stratified split (seed 0, 0.8/0.05/0.15)"


# --------------------------------------------------------------------------- errors


def test_min_agree_only_where_there_are_agreement_counts(releases: dict[str, Path]) -> None:
    for fmt in ("emoset", "emotion6", "abstract", "artphoto", "oasis"):
        with pytest.raises(EmofeatError, match=f"min-agree.*{fmt}"):
            load_manifest(releases[fmt], min_agree=3)


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(("fmt", "file", "text", "message"), [
    ("emotion6", "ground_truth.txt",
     EMOTION6_HEADER + "anger/1.jpg\t2.5\tlow\t0\t0\t0\t0\t0\t0\t0\n",
     r"ground_truth.txt:2: arousal 'low' is not a number"),
    ("emotion6", "ground_truth.txt", EMOTION6_HEADER + "anger/1.jpg\t2.5\n",
     r"ground_truth.txt:2: expected 10 columns"),
    ("emotion6", "ground_truth.txt",
     EMOTION6_HEADER + "\n" + "calm/1.jpg\t1\t1\t0\t0\t0\t0\t0\t0\t0\n",
     r"ground_truth.txt:3: 'calm/1.jpg' is not in a class folder"),
    ("abstract", "ABSTRACT_groundTruth.csv", ABSTRACT_CSV + "'7.jpg',1,2,x,0,0,0,0,0\n",
     r"ABSTRACT_groundTruth.csv:7: votes for awe 'x' is not a number"),
    ("abstract", "ABSTRACT_groundTruth.csv", "'','Joy','Anger'\n",
     r"ABSTRACT_groundTruth.csv:1: expected vote columns"),
    ("twitter1", "ground_truth/twitter_four_agrees.txt", "1.jpg 1\n3.jpg 2\n",
     r"twitter_four_agrees.txt:2: expected '<image name> <label>'"),
    ("twitter1", "ground_truth/twitter_five_agrees.txt", "1.jpg 0\n",
     r"twitter_five_agrees.txt:1: images/1.jpg is negative here but positive"),
    ("oasis", "OASIS.csv", OASIS_CSV + "6,Cat 1,Animal,Pixabay,n/a,1,1,1,1,1\n",
     r"OASIS.csv:7: Valence_mean 'n/a' is not a number"),
    ("oasis", "OASIS.csv", "Theme,Valence_mean\nA,1\n", r"OASIS.csv:1: lacks column\(s\) "
     "arousal_mean"),
    ("emoset", "val.json", '[\n  ["fear", "fear_00001", "image/fear/fear_00001.jpg",\n'
     '   "annotation/fear/fear_00001.json"],\n  ["fear", "x"]\n]',
     r"val.json:4: entry 1: expected \[label, name, image_path, annotation_path\]"),
    ("emoset", "val.json", '[\n  ["calm", "a", "image/a.jpg", "annotation/a.json"]\n]',
     r"val.json:2: entry 0: label 'calm' is not in info.json"),
    ("emoset", "test.json", '[["fear", "a", "image/a.jpg",\n "b.json"',
     r"test.json:2: malformed JSON"),
    ("emoset", "annotation/fear/fear_00000.json", '{"emotion": "awe"}',
     r"fear_00000.json:1: emotion 'awe' differs from the split list's label 'fear'"),
    ("emoset", "val.json", '[["fear", "a", "../outside.jpg", "a.json"]]',
     r"val.json:1: entry 0: '../outside.jpg' is not a relative image path"),
])
def test_malformed_annotation_files_name_file_and_line(
    releases: dict[str, Path], tmp_path: Path, fmt: str, file: str, text: str, message: str
) -> None:
    root = _copy(releases[fmt], tmp_path / fmt)
    (root / file).write_text(text)
    with pytest.raises(EmofeatError, match=message):
        load_manifest(root)


def test_listing_an_image_twice_is_an_error(releases: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(releases["emotion6"], tmp_path / "e6")
    with open(root / "ground_truth.txt", "a") as fh:
        fh.write("joy/1.jpg\t1\t1\t0\t0\t0\t0\t0\t0\t0\n")
    with pytest.raises(EmofeatError, match=r"ground_truth.txt:7: images/joy/1.jpg is listed "
                                           r"twice \(also on line 3\)"):
        load_manifest(root)
