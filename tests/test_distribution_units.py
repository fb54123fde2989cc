"""The distribution task's parts: the six LDL measures against hand computations and
scipy's reference formulas, soft-target logistic regression against a direct minimisation
of its objective, and how distribution columns are read and validated."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.spatial import distance
from scipy.special import log_softmax, softmax
from scipy.stats import entropy
from sklearn.linear_model import LogisticRegression

from emofeat.classical.soft import SoftTargetClassifier, expand
from emofeat.datasets import load_manifest
from emofeat.datasets.tasks import served_tasks, task_support
from emofeat.distributions import (
    ALL_ZERO,
    MISSING,
    NEGATIVE,
    NOT_ONE,
    distribution_table,
)
from emofeat.errors import EmofeatError
from emofeat.metrics import (
    LDL_EPS,
    LDL_METRICS,
    bootstrap_counts,
    bootstrap_ldl,
    distribution_metrics,
    ldl_per_image,
)

from .conftest import write_image

# --------------------------------------------------------------------------- the measures


def test_measures_by_hand_with_a_zero_share() -> None:
    p = np.array([[0.5, 0.5, 0.0]])
    q = np.array([[0.4, 0.4, 0.2]])
    m = distribution_metrics(p, q)
    assert m["chebyshev"] == pytest.approx(0.2)
    assert m["clark"] == pytest.approx(math.sqrt(2 * (0.1 / 0.9) ** 2 + 1.0), abs=1e-6)
    assert m["canberra"] == pytest.approx(2 * 0.1 / 0.9 + 1.0, abs=1e-6)
    assert m["kl_divergence"] == pytest.approx(math.log(1.25), abs=1e-6)  # 0 log 0 = 0
    assert m["cosine"] == pytest.approx(0.4 / (math.sqrt(0.5) * 0.6), abs=1e-6)
    assert m["intersection"] == pytest.approx(0.8)
    assert m["top1_accuracy"] == 1.0  # joy-like tie in the truth: either top class counts


def test_a_predicted_zero_costs_a_large_finite_kl() -> None:
    per = ldl_per_image(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert per["kl_divergence"][0] == pytest.approx(-math.log(LDL_EPS))  # 36.04
    assert per["canberra"][0] == pytest.approx(2.0)
    assert per["clark"][0] == pytest.approx(math.sqrt(2.0))
    assert per["intersection"][0] == 0.0 and per["top1"][0] == 0.0
    same = ldl_per_image(np.array([[0.7, 0.3, 0.0]]), np.array([[0.7, 0.3, 0.0]]))
    assert [same[k][0] for k in ("chebyshev", "clark", "canberra", "kl_divergence")] == \
        pytest.approx([0, 0, 0, 0], abs=1e-12)
    assert same["cosine"][0] == pytest.approx(1.0) and same["intersection"][0] == 1.0


def test_measures_equal_scipys_formulas() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(6), size=40)
    q = rng.dirichlet(np.ones(6), size=40)
    m = distribution_metrics(p, q)
    ref = {
        "chebyshev": np.mean([distance.chebyshev(a, b) for a, b in zip(p, q, strict=True)]),
        "canberra": np.mean([distance.canberra(a, b) for a, b in zip(p, q, strict=True)]),
        "kl_divergence": np.mean([entropy(a, b) for a, b in zip(p, q, strict=True)]),
        "cosine": np.mean([1 - distance.cosine(a, b) for a, b in zip(p, q, strict=True)]),
        # Clark: Canberra's terms squared, under a root (Geng 2016)
        "clark": np.mean(np.sqrt((((p - q) / (p + q)) ** 2).sum(axis=1))),
        "intersection": np.mean(np.minimum(p, q).sum(axis=1)),
    }
    for key in LDL_METRICS:
        assert m[key] == pytest.approx(ref[key], abs=1e-6), key


def test_bootstrap_draws_weight_the_per_image_measures() -> None:
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(4), size=30), rng.dirichlet(np.ones(4), size=30)
    counts = bootstrap_counts(30, 1000, 0)
    draws = bootstrap_ldl(p, q, counts)
    per = ldl_per_image(p, q)
    assert draws["kl_divergence"][7] == pytest.approx(
        (counts[7] * per["kl_divergence"]).sum() / counts[7].sum())
    whole = bootstrap_ldl(p, q, np.ones((1, 30), dtype=np.int64))
    assert whole["cosine"][0] == pytest.approx(distribution_metrics(p, q)["cosine"], abs=1e-6)


# --------------------------------------------------------------------------- soft targets


def _soft_objective_fit(X: np.ndarray, P: np.ndarray, C: float) -> np.ndarray:
    """Multinomial logistic regression minimising C * sum_i CE(p_i, softmax(W x_i + b)) +
    ||W||^2 / 2 (the intercept unpenalised) directly, with scipy; returns probabilities."""
    d = X.shape[1]
    k = P.shape[1]

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[: k * d].reshape(k, d), theta[k * d:]
        logits = X @ W.T + b
        logq = log_softmax(logits, axis=1)
        loss = -C * (P * logq).sum() + 0.5 * (W ** 2).sum()
        g = C * (softmax(logits, axis=1) - P)  # d loss / d logits
        return loss, np.concatenate([(g.T @ X + W).ravel(), g.sum(axis=0)])

    theta = minimize(f, np.zeros(k * d + k), jac=True, method="L-BFGS-B",
                     options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-14}).x
    W, b = theta[: k * d].reshape(k, d), theta[k * d:]
    return softmax(X @ W.T + b, axis=1)


def test_soft_target_logreg_minimises_cross_entropy_to_the_distributions() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    logits = X @ rng.normal(size=(4, 3))
    P = softmax(logits + rng.normal(0, 0.5, size=logits.shape), axis=1)
    P[:5] = [0.0, 0.3, 0.7]  # zero shares
    model = SoftTargetClassifier(LogisticRegression(C=0.5, max_iter=5000, tol=1e-10)).fit(X, P)
    direct = _soft_objective_fit(X, P, 0.5)
    assert model.predict(X) == pytest.approx(direct, abs=1e-4)
    # ... which is the weighted fit of the expanded rows, zero shares left out
    Xe, ye, we = expand(X, P)
    assert len(ye) == 60 * 3 - 5 and we.sum() == pytest.approx(60.0)
    weighted = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(Xe, ye, sample_weight=we)
    assert model.predict_proba(X) == pytest.approx(weighted.predict_proba(X), abs=1e-6)


def test_onehot_targets_fit_the_dominant_emotion() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    P = rng.dirichlet(np.ones(3), size=40)
    model = SoftTargetClassifier(LogisticRegression(max_iter=2000), targets="onehot").fit(X, P)
    hard = LogisticRegression(max_iter=2000).fit(X, P.argmax(axis=1))
    assert model.predict(X) == pytest.approx(hard.predict_proba(X), abs=1e-8)
    P[:, 2] = 0.0  # class 2 never dominant and never shared: soft targets cannot learn it
    P /= P.sum(axis=1, keepdims=True)
    with pytest.raises(EmofeatError, match="no share in any training image"):
        SoftTargetClassifier(LogisticRegression()).fit(X, P)
    partial = SoftTargetClassifier(LogisticRegression(), targets="onehot").fit(X, P)
    assert partial.predict(X).shape == (40, 3) and (partial.predict(X)[:, 2] == 0).all()


# --------------------------------------------------------------------------- reading


def _csv(root: Path, header: str, rows: list[str], newline: str = "\n", bom: bool = False
         ) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for k in range(len(rows)):
        write_image(root / f"{k}.jpg", k, size=8)
    text = newline.join([header, *(f"{k}.jpg,{row}" for k, row in enumerate(rows))]) + newline
    path = root / "list.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def test_csv_shares_read_with_crlf_bom_and_spaces(tmp_path: Path) -> None:
    csv_path = _csv(tmp_path / "d", "path,label, Dist_Awe ,dist_fear", [
        "awe,0.7,0.3", "fear,0.2,0.8", "awe,0.51,0.5"], newline="\r\n", bom=True)
    m = load_manifest(csv_path)
    assert "distribution" in served_tasks(m)
    table = distribution_table(m)
    assert table is not None and table.classes == ("awe", "fear")
    assert table.values.sum(axis=1) == pytest.approx([1, 1, 1])  # 1.01 rescaled
    assert table.values[2] == pytest.approx([0.51 / 1.01, 0.5 / 1.01])


def test_vote_counts_are_normalised(tmp_path: Path) -> None:
    m = load_manifest(_csv(tmp_path / "v", "path,label,votes_positive,votes_negative",
                           ["positive,4,1", "negative,0,5"]))
    table = distribution_table(m)
    assert table is not None
    assert table.values.tolist() == [[0.8, 0.2], [0.0, 1.0]]


@pytest.mark.parametrize(("row", "reason"), [
    ("0.5,", MISSING), ("1.2,-0.2", NEGATIVE), ("0,0", ALL_ZERO), ("0.5,0.3", NOT_ONE)])
def test_an_invalid_row_is_named_or_dropped_and_counted(tmp_path: Path, row: str,
                                                        reason: str) -> None:
    m = load_manifest(_csv(tmp_path / "x", "path,label,dist_a,dist_b",
                           ["a,0.6,0.4", f"a,{row}", "b,0.1,0.9"]))
    with pytest.raises(EmofeatError, match=rf"image 1\.jpg: {reason.split(' (')[0]}.*"
                                           "--drop-invalid"):
        distribution_table(m, drop_invalid=False)
    table = distribution_table(m)  # counted, the first described
    assert table is not None and table.invalid == {reason: 1} and table.n == 2
    assert np.isnan(table.values[1]).all()
    assert table.first_invalid is not None and table.first_invalid.startswith("image 1.jpg")
    assert task_support(m, "distribution").n_images == 2


def test_abstract_vote_shares_serve_the_task(tmp_path: Path) -> None:
    from .test_releases import make_abstract

    m = load_manifest(make_abstract(tmp_path / "abstract"))
    table = distribution_table(m)
    assert table is not None and len(table.classes) == 8
    assert table.values.sum(axis=1) == pytest.approx(np.ones(len(m)))
    no_dist = load_manifest(_csv(tmp_path / "plain", "path,label", ["awe", "fear"]))
    assert "no per-class shares" in task_support(no_dist, "distribution").why


def test_the_registry_holds_the_names_the_cli_offers() -> None:
    from emofeat.classical.estimators import DISTRIBUTION_MODELS
    from emofeat.classical.options import DISTRIBUTION_MODEL_NAMES, plan_fits

    assert tuple(DISTRIBUTION_MODELS) == DISTRIBUTION_MODEL_NAMES
    assert plan_fits(["logreg", "logreg-onehot"], ["valence", "distribution"]) == [
        ("logreg", "valence"), ("logreg", "distribution"), ("logreg-onehot", "distribution")]
    with pytest.raises(EmofeatError, match="needs a distribution model"):
        plan_fits(["svm"], ["distribution"])
