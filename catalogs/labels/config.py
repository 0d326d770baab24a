"""Settings of the ``labels`` stage: label sources, their precedence and the §6.3 cuts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalogs.labels.splits import DEFAULT_FRACTIONS, DEFAULT_SALT, split_edges

PROT_CATALOGS = ("lightpred2025", "santos2021", "santos2019", "mcquillan2014", "reinhold2023")
AGE_CATALOGS = ("bouma2024", "lu2024")
# Catalogs the label tables draw on (here, not in catalogs.labels.tables, so that the
# labels stage's cache key needs no pandas); those a profile does not fetch are simply absent.
LABEL_CATALOGS = (
    "lamost_lrs_stellar",
    "kepler_gaia",
    "berger2020",
    "berger2020_input",
    "godoy_rivera2025",
    "lightpred2025",
    "santos2021",
    "santos2019",
    "mcquillan2014",
    "reinhold2023",
    "lu2024",
    "bouma2024",
    "kamai_perets2025b",
    "chen2021",
    "kepler_eb",
)


@dataclass(frozen=True)
class LabelConfig:
    """Every choice ``build_labels`` makes, with where it comes from.

    - ``prot_priority``: the first catalog with a finite positive period for a star wins. The
      issue's order LightPred > Santos > McQuillan > Reinhold is DESA's alignment and
      light-curve training order (desa_reference.md §9; the age fine-tuning there used Santos
      first). Santos 2021 (F/G) precedes Santos 2019 (K/M); they barely overlap.
    - ``age_priority``: Bouma 2024 first, then Lu 2024. Paper §6.4 merges the two without a
      precedence; Bouma's gyro-interp is calibrated on open clusters and only covers ages
      below ~4 Gyr, where it is the more direct calibration, and Lu 2024 (calibrated on
      gyro-kinematic ages) fills the rest of the range.
    - ``ruwe_single_max`` = 1.2: singles have RUWE strictly below it (§6.3 bullet 2; the value
      is not legible in the paper, 1.2 is the issue's default).
    - ``ruwe_binary_min`` = 1.4: binaries by RUWE have RUWE strictly above it, Godoy-Rivera et
      al. 2025's flag_RUWE threshold (the Gaia DR3 "poor single-star fit" convention).
    - ``delta_k_single_min`` = -0.3 mag: singles have ΔK_iso strictly above it, i.e. no K-band
      luminosity excess over a single star of the same parameters (§6.3 bullet 4, §6.2:
      "the lower ΔK_iso, the more over-luminous"); 0.3 mag is also Simonian et al. 2019's
      photometric-binary offset.
    - ``require_delta_k``: ΔK_iso is published (Kamai & Perets 2025b) for fast rotators only;
      DESA computed it for every star from MIST isochrones, which this pipeline lacks
      (data_sources.md §0). False (default): an unknown ΔK_iso does not veto a single; True:
      singles need a known ΔK_iso.
    - ``fast_rotator_prot_max`` = 7 d: the ``fast_rotators`` table keeps Kamai & Perets 2025b
      stars with Prot below it (None keeps all). Their own membership is relative to a
      Teff-dependent initial-rotation relation; the paper's §6.2 cut is not legible; 7 d is the
      upper edge of Simonian et al. 2019's rapid rotators (1.5 < P < 7 d).
    - ``split_fractions`` / ``split_salt``: ``catalogs.labels.splits.split_of`` by star id.
    """

    prot_priority: tuple[str, ...] = PROT_CATALOGS
    age_priority: tuple[str, ...] = AGE_CATALOGS
    ruwe_single_max: float = 1.2
    ruwe_binary_min: float = 1.4
    delta_k_single_min: float = -0.3
    require_delta_k: bool = False
    fast_rotator_prot_max: float | None = 7.0
    split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    split_salt: str = DEFAULT_SALT

    def __post_init__(self) -> None:
        problems = []
        for field, known in (("prot_priority", PROT_CATALOGS), ("age_priority", AGE_CATALOGS)):
            order = getattr(self, field)
            if not order or len(set(order)) != len(order) or not set(order) <= set(known):
                problems.append(f"{field} must be distinct names among {known}, got {order!r}")
        cuts = (self.ruwe_single_max, self.ruwe_binary_min, self.delta_k_single_min)
        if not all(math.isfinite(cut) for cut in cuts):
            problems.append("the RUWE and ΔK_iso cuts must be finite")
        elif self.ruwe_single_max > self.ruwe_binary_min:
            problems.append("ruwe_single_max must not exceed ruwe_binary_min")
        if self.fast_rotator_prot_max is not None and not self.fast_rotator_prot_max > 0:
            problems.append("fast_rotator_prot_max must be positive or None")
        try:
            split_edges(self.split_fractions)
        except ValueError as error:
            problems.append(str(error))
        if problems:
            raise ValueError("LabelConfig: " + "; ".join(problems))
