"""B12 Risk Atlas entry point: page setup and navigation (`streamlit run app.py`)."""

from pathlib import Path

import streamlit as st

# A local favicon: a material or emoji page icon is fetched from a font CDN by the browser.
FAVICON = Path(__file__).parent / "dashboard" / "assets" / "favicon.png"
st.set_page_config(page_title="B12 Risk Atlas", page_icon=str(FAVICON), layout="wide")
st.navigation(
    {
        "Evidence": [
            st.Page("dashboard/pages/overview.py", title="Overview",
                    icon=":material/dashboard:", default=True),
            st.Page("dashboard/pages/explore.py", title="Explore", url_path="explore",
                    icon=":material/filter_alt:"),
            st.Page("dashboard/pages/evidence.py", title="Evidence", url_path="evidence",
                    icon=":material/forest:"),
            st.Page("dashboard/pages/cutoffs.py", title="Cutoffs", url_path="cutoffs",
                    icon=":material/straighten:"),
        ],
        "Population": [
            st.Page("dashboard/pages/burden.py", title="Burden", url_path="burden",
                    icon=":material/public:"),
            st.Page("dashboard/pages/your_data.py", title="Your data", url_path="your-data",
                    icon=":material/upload_file:"),
        ],
        "About": [
            st.Page("dashboard/pages/methods.py", title="Methods & sources", url_path="methods",
                    icon=":material/menu_book:"),
        ],
    }
).run()
