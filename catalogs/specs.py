"""Declarative specs of every catalog the pipeline reads (docs/catalogs.md is the source table).

A spec says where the published file comes from, its format, which published columns are used
and what they become: lower-case normalised names, one dtype per normalised column, published
sentinels that mean "missing", the key column and what to do with repeated keys.

Normalised dtypes:
- ``int64``: numpy int64, never missing (key columns: ``kic``, ``obsid``);
- ``Int64``: pandas nullable integer;
- ``float64``: numbers, NaN when missing;
- ``str``: stripped text, None when missing or empty;
- ``bool``: pandas nullable ``boolean`` (flags published as 0/1 or True/False);
- ``gaia_id``: a string of digits, None when missing; never a float (floats lose precision).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote

Format = Literal["csv", "csv_gz", "ampersand_gz", "vizier_tsv", "mrt", "fits"]
Dtype = Literal["int64", "Int64", "float64", "str", "bool", "gaia_id"]
DuplicatePolicy = Literal["keep_first", "error", "allow"]

FORMATS: tuple[Format, ...] = ("csv", "csv_gz", "ampersand_gz", "vizier_tsv", "mrt", "fits")
DTYPES: tuple[Dtype, ...] = ("int64", "Int64", "float64", "str", "bool", "gaia_id")
KEY_DTYPES: tuple[Dtype, ...] = ("int64", "str")  # an integer id, or a text id (APOGEE_ID)


@dataclass(frozen=True)
class UrlSource:
    """A file served as is at one URL."""

    url: str


@dataclass(frozen=True)
class VizierSource:
    """A VizieR table, fetched with ``catalogs.vizier.fetch_vizier``.

    ``table=None`` means the catalog holds a single table; a catalog with several tables
    must name the one it means (VizieR answers with all of them otherwise).
    """

    catalog_id: str
    table: str | None


@dataclass(frozen=True)
class LamostCatalogSource:
    """An LRS catalog of the configured LAMOST release (``dr8_v2.0_LRS_stellar.csv.gz`` for
    kind ``stellar``), fetched through the LAMOST catalog service or the archive tree."""

    kind: str


Source = UrlSource | VizierSource | LamostCatalogSource


@dataclass(frozen=True)
class CatalogSpec:
    """How to read one published catalog and what its normalised table looks like.

    ``columns`` maps published names to normalised names, in output order; ``required`` are the
    published names that must be in the file (others become all-missing columns when absent).
    ``sentinels`` maps a normalised column to published values meaning missing;
    ``numeric_sentinels`` apply to every non-key ``float64``/``Int64`` column.
    ``duplicates`` says what repeated keys mean: ``keep_first`` (later rows are rejected with a
    reason), ``error`` (the key must be unique: the file is refused) or ``allow`` (several rows
    per key are part of the catalog). ``source`` is None when no public download is known.
    ``aliases`` maps a published name to other names the same column goes by in other copies
    of the file (McQuillan 2014's ``KID`` is ``kepid`` in some); the reader accepts either.
    ``name_columns`` are ``str`` columns whose values become file or folder names downstream
    (LAMOST's planid names a folder and part of each spectrum's file name): a row whose value
    is a path (``../x``, ``/x``) rather than one plain name is rejected with the reason.
    """

    name: str
    description: str
    citation: str
    format: Format
    mirror_path: str | None
    source: Source | None
    columns: Mapping[str, str]
    required: frozenset[str]
    dtypes: Mapping[str, Dtype]
    key: str
    sentinels: Mapping[str, tuple[float | str, ...]] = field(default_factory=dict)
    numeric_sentinels: tuple[float, ...] = ()
    duplicates: DuplicatePolicy = "keep_first"
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    name_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Freeze the mappings so a shared spec cannot be edited by one caller.
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        object.__setattr__(self, "dtypes", MappingProxyType(dict(self.dtypes)))
        object.__setattr__(self, "sentinels", MappingProxyType(dict(self.sentinels)))
        object.__setattr__(self, "aliases", MappingProxyType(dict(self.aliases)))
        normalised = list(self.columns.values())
        problems = []
        if self.format not in FORMATS:
            problems.append(f"unknown format {self.format!r}")
        if len(set(normalised)) != len(normalised):
            problems.append("two published columns map to the same normalised name")
        if set(self.dtypes) != set(normalised):
            problems.append("dtypes must name every normalised column and nothing else")
        if any(dtype not in DTYPES for dtype in self.dtypes.values()):
            problems.append(f"dtypes must be among {DTYPES}")
        if not self.required <= set(self.columns):
            problems.append("required names columns that are not in columns")
        if self.key not in normalised or self.dtypes.get(self.key) not in KEY_DTYPES:
            problems.append(f"key must be a normalised column of dtype {KEY_DTYPES}")
        if not set(self.aliases) <= set(self.columns):
            problems.append("aliases name columns that are not in columns")
        if not set(self.sentinels) <= set(normalised):
            problems.append("sentinels name columns that are not normalised columns")
        if any(self.dtypes.get(name) != "str" for name in self.name_columns):
            problems.append("name_columns must be normalised columns of dtype str")
        if problems:
            raise ValueError(f"catalog spec {self.name!r}: {'; '.join(problems)}")

    @property
    def published_key(self) -> str:
        """The published name of the key column."""
        return next(pub for pub, norm in self.columns.items() if norm == self.key)

    @property
    def text_columns(self) -> frozenset[str]:
        """Published columns a text reader must keep as text: integers and ids.

        Read through float (what pandas does to an integer column with a blank) a Gaia or
        Pan-STARRS id above 2**53 silently changes; as text it converts exactly.
        """
        exact = {"int64", "Int64", "gaia_id"}
        names = [pub for pub, norm in self.columns.items() if self.dtypes[norm] in exact]
        return frozenset([*names, *(alias for pub in names for alias in self.aliases.get(pub, ()))])


def _spec(
    name: str,
    *,
    description: str,
    citation: str,
    format: Format,
    mirror_path: str | None,
    source: Source | None,
    columns: Mapping[str, str],
    key: str = "kic",
    ints: Iterable[str] = (),
    strs: Iterable[str] = (),
    bools: Iterable[str] = (),
    gaia_ids: Iterable[str] = (),
    optional: Iterable[str] = (),
    sentinels: Mapping[str, tuple[float | str, ...]] | None = None,
    numeric_sentinels: tuple[float, ...] = (),
    duplicates: DuplicatePolicy = "keep_first",
    aliases: Mapping[str, tuple[str, ...]] | None = None,
    key_dtype: Dtype = "int64",
    name_columns: tuple[str, ...] = (),
) -> CatalogSpec:
    """Build a spec where every normalised column is float64 unless listed otherwise."""
    dtypes: dict[str, Dtype] = dict.fromkeys(columns.values(), "float64")
    dtypes[key] = key_dtype
    for names, dtype in ((ints, "Int64"), (strs, "str"), (bools, "bool"), (gaia_ids, "gaia_id")):
        for norm in names:
            dtypes[norm] = dtype
    return CatalogSpec(
        name=name,
        description=description,
        citation=citation,
        format=format,
        mirror_path=mirror_path,
        source=source,
        columns=columns,
        required=frozenset(columns) - frozenset(optional),
        dtypes=dtypes,
        key=key,
        sentinels=sentinels or {},
        numeric_sentinels=numeric_sentinels,
        duplicates=duplicates,
        aliases=aliases or {},
        name_columns=name_columns,
    )


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


# The 47 LRS_stellar columns in the published order (data_sources.md §1.3).
# fmt: off
_LAMOST_COLUMNS = _same(
    "obsid", "uid", "gp_id", "designation", "obsdate", "lmjd", "mjd", "planid", "spid",
    "fiberid", "ra_obs", "dec_obs", "snru", "snrg", "snrr", "snri", "snrz", "class", "subclass",
    "z", "z_err", "ps_id", "mag_ps_g", "mag_ps_r", "mag_ps_i", "mag_ps_z", "mag_ps_y",
    "gaia_source_id", "gaia_g_mean_mag", "tsource", "fibertype", "tfrom", "tcomment", "offset",
    "offset_v", "ra", "dec", "teff", "teff_err", "logg", "logg_err", "feh", "feh_err", "rv",
    "rv_err", "alpha_m", "alpha_m_err",
)
_LAMOST_TEXT = (
    "uid", "designation", "obsdate", "planid", "class", "subclass", "tsource", "fibertype",
    "tfrom", "tcomment",
)
_GODOY_FLAGS = (
    "flag_Binary_Union", "flag_RUWE", "flag_RVvariable", "flag_NSS", "flag_EB_Kepler",
    "flag_EB_Gaia", "flag_SB9",
)
# fmt: on

_BERGER_T2_COLUMNS = {"KIC": "kic"} | {
    published + suffix: normalised + suffix
    for published, normalised in (
        ("iso_mass", "mass"),
        ("iso_teff", "teff"),
        ("iso_logg", "logg"),
        ("iso_feh", "feh"),
        ("iso_rad", "radius"),
        ("iso_rho", "rho"),
        ("iso_lum", "lum"),
        ("iso_age", "age_gyr"),
        ("iso_dis", "dist_pc"),
    )
    for suffix in ("", "_err1", "_err2")
}

_SANTOS_NOTE = (
    "E_Prot/E_Sph are the published (upper) uncertainties; flag1..flag5 are small integer "
    "codes (flag5, the FliPer class, takes 0-2), so they stay Int64."
)

APOGEE_URL = (
    "https://data.sdss.org/sas/dr17/apogee/spectro/aspcap/dr17/synspec_rev1/"
    "allStar-dr17-synspec_rev1.fits"
)
KEPLER_GAIA_URL = "https://www.dropbox.com/s/kdbeok7a4forca3/kepler_dr3_1arcsec.fits?dl=1"
# Exoplanet Archive TAP sync (https://exoplanetarchive.ipac.caltech.edu/docs/TAP/usingTAP.html):
# ADQL in `query`, `format=csv`; the DR25 rows are one delivery of keplerstellar.
KEPLER_CDPP_QUERY = (
    "select kepid,rrmscdpp03p0 from keplerstellar where st_delivname='q1_q17_dr25_stellar'"
)
KEPLER_CDPP_URL = (
    "https://exoplanetarchive.ipac.caltech.edu/TAP/sync?query="
    f"{quote(KEPLER_CDPP_QUERY, safe=',')}&format=csv"
)

_ALL_SPECS = (
    _spec(
        "lamost_lrs_stellar",
        description=(
            "LAMOST DR8 v2.0 LRS AFGK stellar-parameter catalog (LASP): one row per spectrum, "
            "47 columns in the published order (data_sources.md §1.3). obsid is the primary key "
            "(must be unique); a star observed several times has several obsids. -9999 marks "
            "missing values; gaia_source_id is published as varchar(25) and kept as text; "
            "offset is the 0/1 fibre-offset flag."
        ),
        citation=(
            "LAMOST DR8 v2.0 (Luo et al. 2015, RAA 15, 1095); http://www.lamost.org/dr8/v2.0/"
        ),
        format="csv_gz",
        mirror_path="lamost/dr8/v2.0/catalog/dr8_v2.0_LRS_stellar.csv.gz",
        source=LamostCatalogSource("stellar"),
        columns=_LAMOST_COLUMNS,
        key="obsid",
        ints=("gp_id", "lmjd", "mjd", "spid", "fiberid", "ps_id"),
        strs=_LAMOST_TEXT,
        bools=("offset",),
        gaia_ids=("gaia_source_id",),
        sentinels={"gaia_source_id": (-9999,), "offset": (-9999,)},
        numeric_sentinels=(-9999.0,),
        duplicates="error",
        # The fetch stage saves each spectrum as <planid>/spec-<lmjd>-<planid>_sp..fits.gz.
        name_columns=("planid",),
    ),
    _spec(
        "kepler_gaia",
        description=(
            "Kepler DR25 stellar table x Gaia DR3 within 1 arcsec (gaia-kepler.fun, M. Bedell): "
            "Kepler columns (kepid, ra_kic, dec_kic, kepmag, teff, logg) plus Gaia DR3 columns "
            "(source_id int64, ra, dec, parallax, pmra, pmdec, ruwe, phot_g_mean_mag, bp_rp) and "
            "kepler_gaia_ang_dist (arcsec). A kic may have several Gaia rows (all are kept)."
        ),
        citation=(
            "Bedell M., gaia-kepler.fun Kepler-Gaia DR3 crossmatch (https://gaia-kepler.fun, "
            "file on Dropbox); "
            "Gaia Collaboration 2023, A&A 674, A1"
        ),
        format="fits",
        mirror_path="gaia-kepler/kepler_dr3_1arcsec.fits",
        # The site links the table to Dropbox (not a /data/ path); dl=1 serves the file itself,
        # without it Dropbox answers with an HTML preview page.
        source=UrlSource(KEPLER_GAIA_URL),
        columns={
            "kepid": "kic",
            "ra_kic": "ra",
            "dec_kic": "dec",
            "kepmag": "kepmag",
            "teff": "kic_teff",
            "logg": "kic_logg",
            "source_id": "gaia_source_id",
            "ra": "gaia_ra",
            "dec": "gaia_dec",
            "parallax": "parallax",
            "pmra": "pmra",
            "pmdec": "pmdec",
            "ruwe": "ruwe",
            "phot_g_mean_mag": "phot_g_mean_mag",
            "bp_rp": "bp_rp",
            "kepler_gaia_ang_dist": "kepler_gaia_ang_dist",
        },
        gaia_ids=("gaia_source_id",),
        duplicates="allow",
    ),
    _spec(
        "berger2020_input",
        description=(
            "Berger et al. 2020 Table 1, Gaia-Kepler stellar input properties for 186,548 stars "
            "(authors' file GKSPCPapTable1_Final.txt: '&'-separated, lines end in '\\\\', empty = "
            "missing). RUWE is from Gaia DR2; evstate is RGB/clump or empty; Kmag_final_prov "
            "says how Ks was corrected for binarity."
        ),
        citation=(
            "Berger T. A. et al. 2020, AJ 159, 280 (arXiv:2001.07737); VizieR J/AJ/159/280 table1"
        ),
        format="ampersand_gz",
        mirror_path="berger2020/GKSPCPapTable1_Final.txt.gz",
        source=UrlSource("https://arxiv.org/src/2001.07737/anc/GKSPCPapTable1_Final.txt"),
        columns={
            "KIC": "kic",
            "gmag": "gmag",
            "gmag_err": "gmag_err",
            "kmag": "kmag",
            "kmag_err": "kmag_err",
            "parallax": "parallax",
            "parallax_err": "parallax_err",
            "feh": "feh",
            "feh_err": "feh_err",
            "RUWE": "ruwe",
            "num_gaia_companions": "num_gaia_companions",
            "Kmag_final_prov": "kmag_final_prov",
            "evstate": "evstate",
        },
        ints=("num_gaia_companions",),
        strs=("kmag_final_prov", "evstate"),
    ),
    _spec(
        "berger2020",
        description=(
            "Berger et al. 2020 Table 2, isochrone-fitted properties for 186,301 stars (authors' "
            "file GKSPCPapTable2_Final.txt, same '&' format as Table 1): iso_mass (Msun), "
            "iso_teff (K), iso_logg, iso_feh, iso_rad (Rsun), iso_rho, iso_lum, iso_age (Gyr), "
            "iso_dis (pc), each with _err1 (upper) and _err2 (lower, negative) uncertainties."
        ),
        citation=(
            "Berger T. A. et al. 2020, AJ 159, 280 (arXiv:2001.07737); VizieR J/AJ/159/280 table2"
        ),
        format="ampersand_gz",
        mirror_path="berger2020/GKSPCPapTable2_Final.txt.gz",
        source=UrlSource("https://arxiv.org/src/2001.07737/anc/GKSPCPapTable2_Final.txt"),
        columns=_BERGER_T2_COLUMNS,
    ),
    _spec(
        "godoy_rivera2025",
        description=(
            "Godoy-Rivera et al. 2025 Table A1 (authors' CSV as used by DESA): Kepler stars with "
            "a Gaia DR3 match, dereddened colour BPmRP_0 and absolute magnitude M_G_0, CMD class "
            "flag_CMD (e.g. 'Subgiant', 'notinCMDsample') and binarity flags (0/1 or True/False "
            "-> bool); NSS_Binary_Type is a text label. No public download of the CSV is known "
            "(the VizieR labels may differ)."
        ),
        citation="Godoy-Rivera D. et al. 2025, A&A 696, A243; VizieR J/A+A/696/A243",
        format="csv",
        mirror_path="godoy-rivera2025/GodoyRivera25_TableA1.csv",
        source=None,
        columns={
            "KIC": "kic",
            "source_id": "gaia_source_id",
            "BPmRP_0": "bp_rp0",
            "M_G_0": "m_g0",
            "flag_CMD": "cmd_class",
            "RUWE": "ruwe",
            **{flag: flag.lower() for flag in _GODOY_FLAGS},
            "NSS_Binary_Type": "nss_binary_type",
        },
        strs=("cmd_class", "nss_binary_type"),
        bools=tuple(flag.lower() for flag in _GODOY_FLAGS),
        gaia_ids=("gaia_source_id",),
    ),
    _spec(
        "mcquillan2014",
        description=(
            "McQuillan, Mazeh & Aigrain 2014 Table 1: 34,030 periodic Kepler main-sequence stars "
            "(authors' CSV Table_1_Periodic.txt). The key column is 'KID' in most copies and "
            "'kepid' in others (e.g. RuthAngus/stardate's): both are accepted. Prot and Prot_err "
            "in days, Rper in ppm, LPH local peak height, w weight, DC 0/1; Flag is '---' (none, "
            "-> missing), SM1, SM2 or BQR."
        ),
        citation=(
            "McQuillan A., Mazeh T., Aigrain S. 2014, ApJS 211, 24 (arXiv:1402.5694); "
            "VizieR J/ApJS/211/24 table1"
        ),
        format="csv",
        mirror_path="mcquillan2014/Table_1_Periodic.txt",
        source=UrlSource("https://arxiv.org/src/1402.5694/anc/Table_1_Periodic.txt"),
        columns={
            "KID": "kic",
            "Teff": "teff",
            "logg": "logg",
            "Mass": "mass",
            "Prot": "prot",
            "Prot_err": "prot_err",
            "Rper": "rper",
            "LPH": "lph",
            "w": "w",
            "DC": "dc",
            "Flag": "flag",
        },
        ints=("dc",),
        strs=("flag",),
        sentinels={"flag": ("---",)},
        aliases={"KID": ("kepid",)},
    ),
    _spec(
        "santos2019",
        description=(
            "Santos et al. 2019 table3: M and K dwarfs with a recovered rotation period (VizieR "
            "TSV export). Kpmag Kepler magnitude, Teff (K), logg, Mass (Msun), Prot (d), Sph "
            f"(ppm), DMK luminosity-excess correction. {_SANTOS_NOTE}"
        ),
        citation="Santos A. R. G. et al. 2019, ApJS 244, 21; VizieR J/ApJS/244/21 table3",
        format="vizier_tsv",
        mirror_path="vizier/J_ApJS_244_21.tsv",
        source=VizierSource("J/ApJS/244/21", "table3"),
        columns={
            "KIC": "kic",
            "Kpmag": "kepmag",
            "Teff": "teff",
            "logg": "logg",
            "Mass": "mass",
            "Prot": "prot",
            "E_Prot": "prot_err",
            "Sph": "sph",
            "E_Sph": "sph_err",
            **{f"Fl{i}": f"flag{i}" for i in range(1, 6)},
            "DMK": "dmk",
        },
        ints=tuple(f"flag{i}" for i in range(1, 6)),
    ),
    _spec(
        "santos2021",
        description=(
            "Santos et al. 2021 table1: G and F main-sequence stars and cool subgiants with a "
            "recovered rotation period (VizieR TSV export; flags published as flag1..flag5). "
            f"{_SANTOS_NOTE}"
        ),
        citation=(
            "Santos A. R. G. et al. 2021, ApJS 255, 17 (arXiv:2107.02217); "
            "VizieR J/ApJS/255/17 table1"
        ),
        format="vizier_tsv",
        mirror_path="vizier/J_ApJS_255_17.tsv",
        source=VizierSource("J/ApJS/255/17", "table1"),
        columns={
            "KIC": "kic",
            "Teff": "teff",
            "logg": "logg",
            "Mass": "mass",
            "Prot": "prot",
            "E_Prot": "prot_err",
            "Sph": "sph",
            "E_Sph": "sph_err",
            **{f"flag{i}": f"flag{i}" for i in range(1, 6)},
        },
        ints=tuple(f"flag{i}" for i in range(1, 6)),
    ),
    _spec(
        "reinhold2023",
        description=(
            "Reinhold et al. 2023 rotation periods of 67,163 Kepler stars (VizieR TSV export of "
            "table1). The table has no single 'Prot': ProtFin is the authors' adopted period "
            "and becomes prot; ProtGPS (gradient of the power spectrum), ProtACF "
            "(autocorrelation) and the literature periods ProtMcQ14 (McQuillan 2014) and "
            "ProtS21 (Santos 2019/2021) are kept beside it. All in days; no period error is "
            "published (DESA assumes 15%)."
        ),
        citation="Reinhold T., Shapiro A. I., Solanki S. K., Basri G. 2023, A&A 678, A24; "
        "VizieR J/A+A/678/A24",
        format="vizier_tsv",
        mirror_path="vizier/J_A+A_678_A24.tsv",
        source=VizierSource("J/A+A/678/A24", "table1"),
        columns={
            "KIC": "kic",
            "ProtFin": "prot",
            "ProtGPS": "prot_gps",
            "ProtACF": "prot_acf",
            "ProtMcQ14": "prot_mcq14",
            "ProtS21": "prot_s21",
        },
        optional=("ProtACF", "ProtMcQ14", "ProtS21"),
    ),
    _spec(
        "lightpred2025",
        description=(
            "Kamai & Perets 2025a LightPred rotation periods for 82,771 Kepler stars (authors' "
            "CSV kepler_predictions_clean_seg_0_1_2_median.csv, as used by DESA): 'predicted "
            "period' and 'observational error' in days, mean_period_confidence in [0, 1]. The "
            "CSV has no known public download (VizieR J/AJ/169/59 uses other labels)."
        ),
        citation="Kamai I. & Perets H. B. 2025, AJ 169, 59; VizieR J/AJ/169/59",
        format="csv",
        mirror_path="kamai-perets2025a/kepler_predictions_clean_seg_0_1_2_median.csv",
        source=None,
        columns={
            "KID": "kic",
            "predicted period": "prot",
            "observational error": "prot_err",
            "mean_period_confidence": "confidence",
        },
    ),
    _spec(
        "kamai_perets2025b",
        description=(
            "Kamai & Perets 2025b 'Too fast to be single' authors' table of fast rotators: Prot "
            "(d), absolute K magnitude kmag_abs, offset from the single-star MIST isochrone "
            "kmag_diff (Delta K_iso), binary_prob and the synchronised-binary candidate flag. "
            "No VizieR id or public download is known."
        ),
        citation="Kamai I. & Perets H. B. 2025, OJAp 8, 59 (arXiv:2503.03839)",
        format="csv",
        mirror_path="kamai-perets2025b/fast_rotators.csv",
        source=None,
        columns={
            "KID": "kic",
            "Prot": "prot",
            "kmag_abs": "kmag_abs",
            "kmag_diff": "delta_k_iso",
            "binary_prob": "binary_prob",
            "candidate": "sync_binary_candidate",
        },
        bools=("sync_binary_candidate",),
    ),
    _spec(
        "lu2024",
        description=(
            "Lu et al. 2024 gyrochronology ages calibrated on gyro-kinematic ages (AAS "
            "machine-readable table, CDS byte-by-byte header): Prot (d), Age (Gyr) with upper "
            "E_Age and lower e_Age uncertainties."
        ),
        citation="Lu Y. et al. 2024, AJ 167, 159 (arXiv:2310.14990); VizieR J/AJ/167/159",
        format="mrt",
        mirror_path="lu2024/lu2024_ages_mrt.txt",
        source=UrlSource(
            "https://content.cld.iop.org/journals/1538-3881/167/4/159/revision1/ajad28b9t2_mrt.txt"
        ),
        columns={
            "KIC": "kic",
            "Prot": "prot",
            "Age": "age_gyr",
            "E_Age": "age_err_hi",
            "e_Age": "age_err_lo",
        },
    ),
    _spec(
        "lu2021",
        description=(
            "Lu et al. 2021 Table 1, gyro-kinematic ages of 29,949 Kepler stars (AAS MRT "
            "ajabe4d6t1_mrt.txt): Prot (d, from McQuillan 2014 / Garcia 2014 / Santos 2019), "
            "GaiaDR2 source id (I19), kinage and e_kinage (Gyr), veldis (km/s), Rossby number "
            "Ro, Teff (K), absGmag (mag). Not part of the demo sky."
        ),
        citation="Lu Y. et al. 2021, AJ 161, 189 (arXiv:2102.01772), Table 1",
        format="mrt",
        mirror_path=None,
        source=UrlSource(
            "https://content.cld.iop.org/journals/1538-3881/161/4/189/revision1/ajabe4d6t1_mrt.txt"
        ),
        columns={
            "kepid": "kic",
            "Prot": "prot",
            "e_Prot": "prot_err",
            "GaiaDR2": "gaia_dr2_source_id",
            "kinage": "age_gyr",
            "e_kinage": "age_err",
            "veldis": "veldis",
            "Ro": "rossby",
            "Teff": "teff",
            "absGmag": "abs_g",
        },
        gaia_ids=("gaia_dr2_source_id",),
    ),
    _spec(
        "bouma2024",
        description=(
            "Bouma et al. 2024 gyrochronal ages of Kepler stars younger than ~4 Gyr, Table 1 as "
            "the IOP machine-readable table apjad855ft1_mrt.txt (CDS byte-by-byte header, read "
            "with astropy's cds/mrt reader): Teff (K), Prot (d), tGyro in Myr with upper "
            "E_tGyro and lower e_tGyro uncertainties (optional: labels from the research notes)."
        ),
        citation="Bouma L. G. et al. 2024, ApJ 976, 234 (arXiv:2410.06246); VizieR J/ApJ/976/234",
        format="mrt",
        mirror_path="bouma2024/apjad855ft1_mrt.txt",
        source=UrlSource(
            "https://content.cld.iop.org/journals/0004-637X/976/2/234/revision1/apjad855ft1_mrt.txt"
        ),
        columns={
            "KIC": "kic",
            "Teff": "teff",
            "Prot": "prot",
            "tGyro": "age_myr",
            "E_tGyro": "age_err_hi_myr",
            "e_tGyro": "age_err_lo_myr",
        },
        optional=("E_tGyro", "e_tGyro"),
    ),
    _spec(
        "chen2021",
        description=(
            "Chen et al. 2021 (PAST II) Galactic space velocities of LAMOST-Gaia-Kepler stars "
            "(VizieR TSV export): U, V, W and their errors in km/s."
        ),
        citation="Chen D.-C. et al. 2021, AJ 162, 100 (arXiv:2107.10704); VizieR J/AJ/162/100",
        format="vizier_tsv",
        mirror_path="vizier/J_AJ_162_100.tsv",
        source=VizierSource("J/AJ/162/100", None),
        columns={
            "KIC": "kic",
            "U": "u",
            "V": "v",
            "W": "w",
            "e_U": "u_err",
            "e_V": "v_err",
            "e_W": "w_err",
        },
    ),
    _spec(
        "kepler_eb",
        description=(
            "Villanova Kepler Eclipsing Binary Catalog, third revision (Kirk et al. 2016), web "
            "CSV export kepler_eb.txt: blank first line, trailing comma on every line, 2,920 rows "
            "for 2,907 KIDs (a repeated KID keeps its first row). period (d), bjd0 (BJD-2400000), "
            "morph (0-1), kmag (Kepler magnitude), Teff (K); -1 marks missing values."
        ),
        citation=(
            "Kirk B. et al. 2016, AJ 151, 68; http://keplerebs.villanova.edu; VizieR J/AJ/151/68"
        ),
        format="csv",
        mirror_path="kepler-eb/kepler_eb.txt",
        source=UrlSource("https://keplerebs.villanova.edu/?format=csv"),
        columns={
            "KID": "kic",
            "period": "eb_period",
            "bjd0": "bjd0",
            "morph": "morph",
            "kmag": "kmag",
            "Teff": "teff",
        },
        numeric_sentinels=(-1.0,),
    ),
    _spec(
        "kepler_cdpp",
        description=(
            "Kepler Q1-Q17 DR25 stellar properties, two-column export: every DR25 target kepid "
            "with its 3-hour robust RMS CDPP rrmscdpp03p0 (ppm). The Exoplanet Archive retired "
            "the table q1_q17_dr25_stellar; its rows are the delivery "
            "st_delivname='q1_q17_dr25_stellar' of the table keplerstellar, which holds every "
            "delivery (one row per kepid per delivery)."
        ),
        citation=(
            "Mathur S. et al. 2017, ApJS 229, 30 (DR25 stellar properties); NASA Exoplanet "
            "Archive TAP table keplerstellar, delivery q1_q17_dr25_stellar"
        ),
        format="csv",
        mirror_path="kepler/Kepler-Q1-Q17-DR25-CDPP3.csv",
        source=UrlSource(KEPLER_CDPP_URL),
        columns={"kepid": "kic", "rrmscdpp03p0": "cdpp3_ppm"},
    ),
    _spec(
        "apogee_dr17",
        description=(
            "APOGEE DR17 allStar (ASPCAP, synspec_rev1), binary table in HDU 1: one row per "
            "star and telescope/field, so a star can repeat; EXTRATARG bit 4 (DUPLICATE) marks "
            "the repeats and ASPCAPFLAG bit 23 (STAR_BAD) the unreliable fits, both applied by "
            "catalogs.apogee, not here. TEFF (K), LOGG, FE_H with their _ERR, SNR of the "
            "combined spectrum; GAIAEDR3_SOURCE_ID is 0 or -1 without a Gaia match. The file "
            "is ~3.6 GB; allStarLite has the same columns."
        ),
        citation=(
            "Abdurro'uf et al. 2022, ApJS 259, 35 (SDSS DR17); "
            f"{APOGEE_URL}; bitmasks: https://www.sdss4.org/dr17/irspec/apogee-bitmasks/"
        ),
        format="fits",
        mirror_path="apogee/dr17/allStar-dr17-synspec_rev1.fits",
        source=UrlSource(APOGEE_URL),
        columns={
            "APOGEE_ID": "apogee_id",
            "TELESCOPE": "telescope",
            "GAIAEDR3_SOURCE_ID": "gaia_source_id",
            "RA": "ra",
            "DEC": "dec",
            "SNR": "snr",
            "TEFF": "teff",
            "TEFF_ERR": "teff_err",
            "LOGG": "logg",
            "LOGG_ERR": "logg_err",
            "FE_H": "feh",
            "FE_H_ERR": "feh_err",
            "ASPCAPFLAG": "aspcapflag",
            "STARFLAG": "starflag",
            "EXTRATARG": "extratarg",
        },
        key="apogee_id",
        key_dtype="str",
        ints=("aspcapflag", "starflag", "extratarg"),
        strs=("telescope",),
        gaia_ids=("gaia_source_id",),
        optional=("TELESCOPE",),
        sentinels={"gaia_source_id": (0, -1)},
        numeric_sentinels=(-9999.0,),
        duplicates="allow",
    ),
)

SPECS: Mapping[str, CatalogSpec] = MappingProxyType({spec.name: spec for spec in _ALL_SPECS})
