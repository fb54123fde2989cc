"""Model files without pickle: a LightGBM booster read back predicts what was saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from emofeat.classical import BoosterClassifier, load_model, save_model


@pytest.mark.parametrize("n_classes", [2, 3])
def test_booster_round_trip(tmp_path: Path, n_classes: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = np.arange(120) % n_classes
    X[:, 0] += y
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LGBMClassifier(
        n_estimators=20, verbose=-1, deterministic=True, force_row_wise=True))]).fit(X, y)
    files = save_model(pipe, tmp_path)
    assert files == ["model-pre.skops", "model.lgb.txt"]
    loaded = load_model({f: tmp_path / f for f in files})
    assert isinstance(loaded[-1], BoosterClassifier)
    assert np.allclose(loaded.predict_proba(X), pipe.predict_proba(X), atol=1e-9)
    assert np.array_equal(loaded.predict(X), pipe.predict(X))
    assert list(loaded[-1].classes_) == list(range(n_classes))


def test_a_loaded_booster_cannot_be_fitted(tmp_path: Path) -> None:
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y).booster_.save_model(
        str(tmp_path / "m.txt"))
    booster = BoosterClassifier.from_file(tmp_path / "m.txt")
    assert booster.predict_proba(X).shape == (40, 2)
    with pytest.raises(TypeError, match="cannot be fitted"):
        booster.fit(X, y)
