"""The leaderboard Space: a thin launcher. `trl-ext leaderboard --deploy ORG/NAME` uploads this file with
space.json (which names the requests dataset holding the leaderboard's settings) and the front end's few
pure-Python modules of trl-ext (trl_ext/hub.py and trl_ext/leaderboard/): no torch, no transformers."""

import json
import os
from pathlib import Path

from trl_ext.leaderboard import settings
from trl_ext.leaderboard.app import launch

requests = json.loads((Path(__file__).parent / "space.json").read_text())["requests"]
launch(settings.load(requests), host="0.0.0.0", port=int(os.environ.get("PORT", "7860")))
