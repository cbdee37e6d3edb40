"""Blinded expert rating of translations (seed 000's Mean Opinion Score study), served as a local web page.

- :mod:`~medtranslate.rating.study`: the study file (``data_specs/rating_study.schema.json``) and the study folder;
- :mod:`~medtranslate.rating.render`: any image the package reads -> the PNG views raters see;
- :mod:`~medtranslate.rating.store`: the SQLite database of raters and ratings;
- :mod:`~medtranslate.rating.server`: the web server (standard library ``http.server``);
- :mod:`~medtranslate.rating.results`: MOS per model, rater agreement, Markdown / JSON reports.

The command line is ``medtranslate rate create | invite | serve | results`` (docs/rating.md).
"""

from __future__ import annotations

__all__: list[str] = []
