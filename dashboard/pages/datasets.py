"""Datasets page: the built files, their rows and checksums, and the sources and licences."""

import pandas as pd
import streamlit as st

from dashboard import schema, ui
from dashboard.data import DataError

st.title("Datasets")
st.markdown(
    "Every figure in the B12 Risk Atlas comes from the files below, built from cited sources "
    "by `make data`. Two builds from the same sources give byte-identical files; the "
    "checksums let you confirm that you are looking at the same data as someone else."
)

try:
    manifest = ui.load_manifest()
    studies = ui.load_studies()
    # Loading checks each file against the manifest, so a listed file is a verified one.
    ui.load_population()
    ui.load_standard_populations()
    ui.load_diet_shares()
except DataError as err:
    ui.render_data_error(err)
    st.stop()

outputs = pd.DataFrame(
    [
        {
            "file": f"data/{o['file']}",
            "rows": o["rows"],
            "columns": len(o["columns"]),
            "size (kB)": round(o["bytes"] / 1000, 1),
            "sha256": o["sha256"],
        }
        for o in manifest["outputs"]
    ]
)
st.subheader("Files")
st.dataframe(outputs, hide_index=True, width="stretch")
st.caption(f"Schema version {manifest['schema_version']}. Column meanings: `data/README.md`.")

st.subheader("Published estimates")
pooling = int((studies["usable_for"] == "pooling").sum())
c1, c2, c3, c4 = st.columns(4)
c1.metric("Estimates", len(studies))
c2.metric("Studies", studies["study_id"].nunique())
c3.metric("Countries", studies.loc[studies["country_iso3"] != "MULTI", "country_iso3"].nunique())
c4.metric("Usable for pooling", pooling)
reasons = studies["reason"].value_counts().rename_axis("why not pooled").reset_index()
st.dataframe(reasons, hide_index=True)

st.subheader("Sources and licences")
for source in manifest.get("sources", []):
    st.markdown(
        f"**{source['name']}**  \n{source['licence']}.  \nCitation: {source['citation']}  \n"
        f"Read from `{source['path']}`."
    )

with st.expander("Inputs and build environment"):
    st.dataframe(pd.DataFrame(manifest["inputs"]), hide_index=True, width="stretch")
    st.json(manifest["built_with"])

with st.expander("Definitions of low B12 status"):
    st.dataframe(
        pd.DataFrame([{"id": d.id, "label": d.label, "rationale": d.rationale}
                      for d in schema.DEFINITIONS]),
        hide_index=True,
        width="stretch",
    )
