"""The classifier service: ABC/XYZ/demand-pattern classification, rule-set driven segmentation,
stable reclassification and overrides (DESIGN.md sections 1 and 6).

``domain/`` holds the pure numpy core; ``schemas.py`` and ``api.py`` expose the stateless preview.
"""
