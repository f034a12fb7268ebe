"""Files and pictures: the results file and backtest report (models, JSON Schemas, writers), charts.

Never imports ``db`` (a test enforces it).
"""
