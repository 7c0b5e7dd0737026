"""Analysts' own files: reading, merging, column and label mapping, validation, estimation.

The modules follow the path of a file through the Your data page and the command line, each
owning one concern that changes for its own reasons:

- ``records``: what the steps pass along (InputError, Upload, ColumnMapping, Outcome,
  Prepared, PreparedTable) and the drop records that say which rows were left out and why.
- ``roles``: which column plays which role. Names and units recognised without asking
  (NHANES variables, the project's own columns), label vocabularies and synonyms;
  ``detect_kind``, ``propose_mapping``, ``map_labels``. It sits below the readers because
  every Upload is born with its kind.
- ``readers``: bytes to an Upload (format sniffing, text decoding, delimiters, CSV, Parquet,
  SAS transport) and the size limits.
- ``merge``: several Uploads of the same people joined on a key (checked against the same
  limits as one file).
- ``outcomes``: low status as a comparison with a cut-off (published definitions, parsed
  outcomes, unit-aware comparison) and age bands.
- ``validation``: a mapped upload checked and turned into a Prepared frame (microdata) or a
  PreparedTable (prevalence table), every problem collected into one InputError.
- ``estimation``: design-based prevalence by groups and directly age-standardised.
- ``_text``: the wording helpers the others share (normalised names, counts, example rows).

Imports flow one way: ``_text <- records <- roles <- readers <- merge``, and
``roles <- outcomes <- validation``; ``estimation`` needs only ``records`` and ``roles``.
Nothing here imports Streamlit. Callers use the names re-exported below
(``from dashboard import ingest; ingest.read_upload(...)``).
"""

from dashboard.ingest._text import EXAMPLES, ROW_WORDS
from dashboard.ingest.estimation import estimate, estimate_standardized, survey_age_weights
from dashboard.ingest.merge import merge_uploads
from dashboard.ingest.outcomes import (
    OPERATORS,
    VALUE_DEFINITIONS,
    cut_age_bands,
    matching_definition,
    outcome_from_definition,
    parse_age_bands,
    parse_outcome,
)
from dashboard.ingest.readers import (
    CATEGORY_LABELS,
    CHUNK_ROWS,
    DELIMITER_NAMES,
    DELIMITERS,
    EXTRA_NA_VALUES,
    FORMAT_LABELS,
    FORMATS,
    MAX_BYTES,
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_ROWS,
    SNIFF_BYTES,
    read_upload,
)
from dashboard.ingest.records import (
    DROPPED_COLUMNS,
    GROUP_ROLES,
    KINDS,
    MICRODATA_ROLES,
    ROW_NOTES,
    TABLE_ROLES,
    BiomarkerColumn,
    ColumnMapping,
    InputError,
    Outcome,
    Prepared,
    PreparedTable,
    Upload,
    fingerprint,
    summarize_dropped,
)
from dashboard.ingest.roles import (
    LABEL_SYNONYMS,
    NHANES_BIOMARKERS,
    NHANES_LABEL_CODES,
    NHANES_NAMES,
    NOT_VALUE_TOKENS,
    PERSON_SUPPLEMENT_USE,
    ROLE_NAMES,
    ROLE_VOCABULARIES,
    TABLE_GROUP_NAMES,
    TABLE_ROLE_VOCABULARIES,
    UNIT_FACTORS,
    UNIT_SLUGS,
    UNKNOWN_LABEL,
    VALUE_BIOMARKERS,
    detect_kind,
    map_labels,
    propose_mapping,
)
from dashboard.ingest.validation import (
    AGE_RANGE,
    PLAUSIBLE_MEDIANS,
    prepare_microdata,
    prepare_table,
)

__all__ = [
    "AGE_RANGE",
    "CATEGORY_LABELS",
    "CHUNK_ROWS",
    "DELIMITERS",
    "DELIMITER_NAMES",
    "DROPPED_COLUMNS",
    "EXAMPLES",
    "EXTRA_NA_VALUES",
    "FORMATS",
    "FORMAT_LABELS",
    "GROUP_ROLES",
    "KINDS",
    "LABEL_SYNONYMS",
    "MAX_BYTES",
    "MAX_CELLS",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MICRODATA_ROLES",
    "NHANES_BIOMARKERS",
    "NHANES_LABEL_CODES",
    "NHANES_NAMES",
    "NOT_VALUE_TOKENS",
    "OPERATORS",
    "PERSON_SUPPLEMENT_USE",
    "PLAUSIBLE_MEDIANS",
    "ROLE_NAMES",
    "ROLE_VOCABULARIES",
    "ROW_NOTES",
    "ROW_WORDS",
    "SNIFF_BYTES",
    "TABLE_GROUP_NAMES",
    "TABLE_ROLES",
    "TABLE_ROLE_VOCABULARIES",
    "UNIT_FACTORS",
    "UNIT_SLUGS",
    "UNKNOWN_LABEL",
    "VALUE_BIOMARKERS",
    "VALUE_DEFINITIONS",
    "BiomarkerColumn",
    "ColumnMapping",
    "InputError",
    "Outcome",
    "Prepared",
    "PreparedTable",
    "Upload",
    "cut_age_bands",
    "detect_kind",
    "estimate",
    "estimate_standardized",
    "fingerprint",
    "map_labels",
    "matching_definition",
    "merge_uploads",
    "outcome_from_definition",
    "parse_age_bands",
    "parse_outcome",
    "prepare_microdata",
    "prepare_table",
    "propose_mapping",
    "read_upload",
    "summarize_dropped",
    "survey_age_weights",
]
