import pytest

from emofeat.errors import EmofeatError
from emofeat.taxonomy import EMOTIONS, get_task, normalise_label, valence_of


def test_eight_emotions_split_evenly_into_valence() -> None:
    positives = [e for e in EMOTIONS if valence_of(e) == "positive"]
    assert positives == ["amusement", "awe", "contentment", "excitement"]
    assert [e for e in EMOTIONS if valence_of(e) == "negative"] == [
        "anger", "disgust", "fear", "sadness"]


@pytest.mark.parametrize(("raw", "canonical"), [
    ("sad", "sadness"), ("Content", "contentment"), ("excited", "excitement"),
    ("amused", "amusement"), ("AWE", "awe"), ("joy", "joy"),
])
def test_synonyms_are_normalised(raw: str, canonical: str) -> None:
    assert normalise_label(raw) == canonical


def test_tasks_encode_and_decode() -> None:
    labels = ["sad", "awe", "anger", "excitement"]
    emotion8 = get_task("emotion8", labels)
    assert emotion8.decode(emotion8.encode(labels)) == ["sadness", "awe", "anger", "excitement"]
    valence = get_task("valence", labels)
    assert valence.classes == ("negative", "positive")
    assert valence.encode(labels).tolist() == [0, 1, 0, 1]
    own = get_task("label", ["joy", "fear", "joy"])
    assert own.classes == ("fear", "joy")


def test_unknown_labels_are_named() -> None:
    with pytest.raises(EmofeatError, match=r"\['joy', 'surprise'\]"):
        get_task("emotion8", ["joy", "fear", "surprise"])
    with pytest.raises(EmofeatError, match="joy"):
        get_task("valence", ["joy", "fear"])
    with pytest.raises(EmofeatError, match="valid tasks"):
        get_task("arousal")
