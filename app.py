"""B12 Risk Atlas entry point: page setup and navigation (`streamlit run app.py`)."""

import streamlit as st

st.set_page_config(page_title="B12 Risk Atlas", layout="wide")
st.navigation(
    [st.Page("dashboard/pages/datasets.py", title="Datasets", url_path="datasets", default=True)]
).run()
