"""What experiments show: the comparison's report (markdown, HTML, CSV, JSON, curves), the data check's report,
and the board."""
