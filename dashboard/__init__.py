"""B12 Risk Atlas: prevalence and burden of low vitamin B12 status, as an API and a dashboard."""
