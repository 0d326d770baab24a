"""The evaluate stage's inputs from a data root, and its optional APOGEE comparison."""

from __future__ import annotations

import pandas as pd
import pytest

from desa.evaluate.apogee import apogee_metrics
from desa.evaluate.run import LABEL_TABLES, evaluation_inputs
from desa.training.config import TrainingConfig
from storage import layout
from storage.layout import DataRoot
from storage.state import StageState, write_state
from storage.tables import write_parquet
from tests.support.products import write_embeddings_store


def _encoder_runs(root: DataRoot) -> None:
    for product in (layout.SPECTRA_MODEL, layout.LIGHTCURVE_MODEL):
        state = StageState(
            product.stage, "k", "1", {}, {}, {}, {}, "t0", "t1", 1.0, {"val_loss": 0.5}
        )
        write_state(root.fs, root.state_path(product.stage), state)


def _maps(kics: range) -> pd.DataFrame:
    stars = pd.DataFrame({"level": "star", "kic": list(kics), "obsid": -1})
    pairs = pd.DataFrame({"level": "pair", "kic": list(kics), "obsid": [k * 10 for k in kics]})
    return pd.concat([stars, pairs], ignore_index=True).assign(model="desa", x=0.0, y=0.0)


def test_evaluation_inputs_read_the_root_and_refuse_maps_of_other_embeddings(
    tmp_path,
) -> None:
    root = DataRoot(tmp_path)
    write_embeddings_store(root, 6, ("desa", "moco"))
    for name in LABEL_TABLES:
        write_parquet(pd.DataFrame({"kic": [1000]}), root.fs, root.of(layout.labels(name)))
    write_parquet(pd.DataFrame({"kic": [1000]}), root.fs, root.of(layout.PREDICTIONS))
    _encoder_runs(root)
    write_parquet(_maps(range(1000, 1006)), root.fs, root.of(layout.MAPS))

    inputs = evaluation_inputs(root)
    assert inputs.models == ("desa", "moco") and inputs.binary_only == ()
    assert len(inputs.stars) == 6 and inputs.star_values["moco"].shape == (6, 6)
    assert set(inputs.labels) == set(LABEL_TABLES) and len(inputs.maps) == 12
    assert inputs.encoders == {
        "train-spectra": {"val_loss": 0.5},
        "train-lightcurves": {"val_loss": 0.5},
    }

    write_parquet(_maps(range(1000, 1005)), root.fs, root.of(layout.MAPS))
    with pytest.raises(ValueError, match="other embeddings; rerun umap"):
        evaluation_inputs(root)


def test_apogee_metrics_need_the_apogee_catalog(tmp_path) -> None:
    root = DataRoot(tmp_path)
    scores = apogee_metrics(root, 3.0, "demo", TrainingConfig())
    assert scores == {"note": "no APOGEE DR17 catalog in this data root"}
