"""The training console: a local web app where a trainee plays a scenario step by step, acts as an admin and
reads a debrief. Layers: session.py (one simulation, no HTTP), views.py (what the pages show), replay.py
(actions through the loader, the replayable TOML), store.py (sessions by id), app.py (HTTP), server.py (run).
"""
