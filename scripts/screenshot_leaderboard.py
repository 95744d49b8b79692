"""Save a screenshot of the leaderboard page, as a person sees it, with the rows it really has.

python scripts/screenshot_leaderboard.py --requests ./hub/leaderboard/requests --output outputs/leaderboard.png
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.app import CSS, build_app, leaderboard_frame
from trl_ext.leaderboard.browser import headless_chrome, wait_for_rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", default="./hub/leaderboard/requests")
    parser.add_argument("--output", default="outputs/leaderboard.png")
    args = parser.parse_args()

    settings = settings_io.load(args.requests)
    frame = leaderboard_frame(settings)
    if frame.empty:
        raise SystemExit("the leaderboard has no rows yet: submit a model and run the backend first")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_app(settings)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    driver = headless_chrome()
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait_for_rows(driver, str(frame["Model"].iloc[0]).strip("[").split("]")[0])
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(args.output)
    finally:
        driver.quit()
        app.close()
    print(f"saved {args.output} ({len(frame)} rows)")


if __name__ == "__main__":
    main()
