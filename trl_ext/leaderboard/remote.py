"""Submitting to a leaderboard Space (or any URL serving the app) through its `/submit` API.

On a Space the submitter is a Hub account: the user's own token goes with the call as gradio_client's
`oauth_token` (sent only to an endpoint whose function takes a `gr.OAuthToken`), and the Space checks it with
the Hub's `whoami`. The token is never printed, logged or written anywhere."""

from __future__ import annotations


class RemoteError(RuntimeError):
    """The leaderboard could not be reached, or refused the submission; the message says which."""


def user_token() -> str:
    """The user's Hugging Face token (`hf auth login` or HF_TOKEN); RemoteError when there is none."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise RemoteError(
            "submitting to a Space needs your Hugging Face token (it identifies you): run `hf auth login` or "
            "set HF_TOKEN"
        )
    return token


def submit_remote(
    leaderboard: str, model, revision, precision, model_type, benchmarks, submitter, token: str | None = None
) -> str:
    """Submit through the app's `/submit` endpoint; returns its message. `benchmarks=None`: all of them.
    `token`: the user's own Hub token, for a Space to identify the submitter."""
    import httpx
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        client = Client(leaderboard, verbose=False, oauth_token=token)
    except OfflineModeIsEnabled:
        raise RemoteError(f"cannot reach the Space {leaderboard!r}: HF_HUB_OFFLINE is set") from None
    except (httpx.HTTPError, HfHubHTTPError, OSError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise RemoteError(f"cannot reach the leaderboard {leaderboard!r}: {reason}") from None
    if benchmarks is None:
        benchmarks = _all_benchmarks(client)
    try:
        return client.predict(
            model, revision, precision, model_type, benchmarks, submitter, api_name="/submit"
        )
    except AppError as err:  # the app raised gr.Error: a refusal, with its reason
        raise RemoteError(str(err).removeprefix("Rejected: ")) from None
    except (httpx.HTTPError, OSError) as err:
        raise RemoteError(f"the leaderboard {leaderboard!r} stopped answering: {err}") from None


def _all_benchmarks(client) -> list[str]:
    """The benchmark choices of the Submit tab (the API's own description of the `/submit` endpoint)."""
    info = client.view_api(print_info=False, return_format="dict")
    for parameter in info["named_endpoints"]["/submit"]["parameters"]:
        if parameter["parameter_name"] == "benchmarks":
            return list(parameter.get("parameter_default") or [])
    raise RemoteError("the leaderboard's /submit endpoint has no `benchmarks` parameter")
