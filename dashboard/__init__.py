"""B12 Risk Atlas: prevalence and burden of low vitamin B12 status, as a Python API and dashboard."""
