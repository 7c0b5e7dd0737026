"""B12 Risk Atlas entry point: page setup and navigation (`streamlit run app.py`)."""

from pathlib import Path

import streamlit as st

from dashboard import schema, ui

# A local favicon: a material or emoji page icon is fetched from a font CDN by the browser.
FAVICON = Path(__file__).parent / "dashboard" / "assets" / "favicon.png"
st.set_page_config(page_title="B12 Risk Atlas", page_icon=str(FAVICON), layout="wide")
navigation: dict[str, list[st.Page]] = {}
for page in schema.PAGES.values():
    navigation.setdefault(page.group, []).append(
        st.Page(page.file, title=page.title, icon=page.icon, url_path=page.url_path or None,
                default=not page.url_path)
    )
# At the top: the sidebar then holds the page's filters first, also on a phone. An embedded
# view (``?embed=true``, the Share control's iframe) shows its chart without any navigation.
embedded = bool(st.context.is_embedded)
pages = st.navigation(navigation, position="hidden" if embedded else "top")
if not embedded:
    ui.render_phone_navigation(pages.title)
ui.render_data_state()
pages.run()
