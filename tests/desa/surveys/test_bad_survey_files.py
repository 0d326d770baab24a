"""The bad-file corpus (tests/desa/surveys/bad_files.py): each LAMOST spectrum and Kepler
light-curve file is refused with a bad-input error naming the file and the problem, by the
reader or, for what only preprocessing can see, by the shard's preprocessing."""

from __future__ import annotations

from pathlib import Path

import pytest

from desa.preprocess.lightcurves import process_stars
from desa.preprocess.spectra import preprocess_files
from desa.surveys.kepler import read_quarter
from desa.surveys.lamost import read_spectrum
from storage.errors import BadInputError
from tests.desa.surveys.bad_files import KEPLER_FILES, LAMOST_FILES, BadFile

# Refusals that only preprocessing gives (the file itself is well formed).
PREPROCESSING = ("no finite value", "all zero", "no good cadence")
KEY = 900_000_001


def _made(case: BadFile, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    real = request.getfixturevalue("real_data") if case.real else None
    return case.make(tmp_path, real, KEY)


def _assert_names_file_and_problem(message: str, path: Path, case: BadFile) -> None:
    assert str(path) in message, message
    for word in case.words:
        assert word in message, f"{case.name}: {word!r} not in {message!r}"


def test_the_corpus_is_large_enough() -> None:
    assert len(LAMOST_FILES) + len(KEPLER_FILES) >= 40
    for corpus in (LAMOST_FILES, KEPLER_FILES):
        assert len({case.name for case in corpus}) == len(corpus)


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
@pytest.mark.parametrize("case", LAMOST_FILES, ids=lambda c: c.name)
def test_bad_spectrum_is_refused(
    case: BadFile, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = _made(case, tmp_path, request)
    batch = preprocess_files([path])
    assert batch.obsids == []
    [(failed, reason)] = batch.failures
    assert failed == str(path)
    _assert_names_file_and_problem(reason, path, case)
    if not any(word in reason for word in PREPROCESSING):
        for lean in (True, False):  # both decoders refuse it as bad input
            with pytest.raises(BadInputError) as refused:
                read_spectrum(path, lean=lean)
            assert refused.value.path == str(path)
            if lean:  # the shard's reason is the reader's
                assert str(refused.value) == reason


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
@pytest.mark.parametrize("case", KEPLER_FILES, ids=lambda c: c.name)
def test_bad_light_curve_is_refused(
    case: BadFile, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = _made(case, tmp_path, request)
    batch = process_stars({KEY: [str(path)]}, min_quarters=1)
    assert batch.kics == []
    [(kic, reason)] = batch.failures
    assert kic == KEY
    _assert_names_file_and_problem(reason, path, case)
    if not any(word in reason for word in PREPROCESSING):
        for lean in (True, False):
            with pytest.raises(BadInputError) as refused:
                read_quarter(path, lean=lean)
            assert refused.value.path == str(path)
            if lean:
                assert str(refused.value) in reason
