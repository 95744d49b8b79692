"""The leaderboard: settings, submission validation, the evaluation backend, the Gradio app and deploy.

Storage follows the Hub's leaderboard pattern: a *requests* dataset (one JSON file per submission, plus the
leaderboard's settings in `leaderboard.json`) and a *results* dataset (one results JSON per finished
evaluation). Both are targets: Hub repo ids or local folders.
"""
