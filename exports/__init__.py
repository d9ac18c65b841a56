"""Exports: rows from the store as CSV, JSON Lines or Parquet, streamed.

:mod:`exports.formats` writes rows in each format a batch at a time (and
defuses spreadsheet formulas in CSV); :mod:`exports.run` is ``shopwatch
export``: a named dataset from :mod:`storage.exports` into a file.
"""
