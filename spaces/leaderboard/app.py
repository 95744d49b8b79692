"""The leaderboard Space: a thin launcher. `trl-ext leaderboard --deploy ORG/NAME` uploads this file with
space.json (which names the requests dataset holding the leaderboard's settings) and the front end's few
pure-Python modules of trl-ext (trl_ext/hub.py and trl_ext/leaderboard/): no torch, no transformers."""

import json
import os
from pathlib import Path

from trl_ext.leaderboard import settings
from trl_ext.leaderboard.app import launch

requests = json.loads((Path(__file__).parent / "space.json").read_text())["requests"]
# A Space serves on 0.0.0.0:7860; GRADIO_SERVER_NAME and PORT override (tests run it on 127.0.0.1).
host = os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0")
launch(settings.load(requests), host=host, port=int(os.environ.get("PORT", "7860")))
