from pathlib import Path

from bench.memory import peak_memory_mb


def test_peak_memory_stays_flat_with_fixed_shards_and_grows_with_one_big_shard(
    real_data: Path,
) -> None:
    spectra = [str(p) for p in sorted((real_data / "lamost").glob("**/*.fits*"))]
    small, large = spectra * 2, spectra * 8
    fixed = (peak_memory_mb("spectra", small, 16), peak_memory_mb("spectra", large, 16))
    assert fixed[1] < 1.25 * fixed[0]
    # The measure sees growth when a worker holds more at once (one shard of everything).
    assert peak_memory_mb("spectra", large, len(large)) > 2 * fixed[1]
