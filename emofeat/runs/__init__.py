"""Run directories: one fitted or fine-tuned model, its predictions and metrics.

```
run.json          kind, model, task, classes, features, hashes, hyperparameters, search
                  table, timings, versions, model files with SHA-256; written LAST
predictions.csv   id, split, y_true, y_pred, score_<class>... (a rating task: no scores;
                  the distribution task: true_<class>..., share_<class>...)
metrics.json      per split (a rating task: Pearson r, Spearman rho, MAE, R^2)
model.*           the model file(s); loaded only after their hash matches run.json
```

A run is complete exactly when ``run.json`` exists with ``status: complete``: it is written
atomically after every other file, so a crash never leaves a run that looks complete.

Modules: ``record`` (run.json as typed records, their one reader and writer),
``predictions`` (predictions.csv), ``directory`` (preparing, finishing and opening runs).
"""

from emofeat.runs.directory import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    RUN_FILE,
    Run,
    finish_run,
    is_complete,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.runs.predictions import (
    AnyPredictions,
    DistributionPredictions,
    Predictions,
    RatingPredictions,
    read_distribution_predictions,
    read_predictions,
    read_rating_predictions,
    write_predictions,
)
from emofeat.runs.record import (
    FORMAT_VERSION,
    KINDS,
    RUN_FORMAT,
    RUN_JSON,
    FeatureRun,
    FeaturesRecord,
    FinetuneRun,
    MajorityRun,
    ModelFile,
    RunRecord,
    SearchRecord,
    ZeroshotRun,
)

__all__ = [
    "FORMAT_VERSION", "KINDS", "METRICS_FILE", "PREDICTIONS_FILE", "RUN_FILE", "RUN_FORMAT",
    "RUN_JSON", "AnyPredictions", "DistributionPredictions", "FeatureRun", "FeaturesRecord",
    "FinetuneRun", "MajorityRun", "ModelFile", "Predictions", "RatingPredictions", "Run",
    "RunRecord", "SearchRecord", "ZeroshotRun", "finish_run", "is_complete", "model_file_entry",
    "prepare_run_dir", "read_distribution_predictions", "read_predictions",
    "read_rating_predictions", "write_predictions",
]
