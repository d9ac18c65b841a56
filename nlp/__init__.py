"""NLP: pure enrichment of article texts (language now; entities, figures and events next).

Texts in, values out; no database and no network.
"""
