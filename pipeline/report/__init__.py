"""The report: figures, the HTML page, the TeX-to-SVG renderer, the PDF gallery, topic fidelity."""
