"""Turn one run's logged gradient norms into the next run's learning-rate schedule (arXiv 2310.07831, Algorithm 1).

    python scripts/refine_schedule.py outputs/run1/trainer_state.json --output schedules/run2.json [--variant adam]

then, in the next run's recipe:

    lr_scheduler_type: refined
    lr_scheduler_kwargs: {schedule_file: schedules/run2.json}
    warmup_steps: 0

The first run must log every step (`logging_steps: 1`): the schedule has one multiplier per logged step, and the
next run reads it stretched to its own length. `--variant sgd` uses w_t = 1/ĝ_t² (the paper's rule for SGD),
`--variant adam` (default; TRL trains with AdamW) w_t = 1/ĝ_t (the paper's rule for Adam, which it states with ℓ1
gradient norms; the ℓ2 norms that TRL logs stand in for them). ĝ is the norms median-filtered over `--window` steps
(default: 5% of the run, at least 1).
"""

from __future__ import annotations

import argparse
import sys

from trl_ext.schedules import grad_norms_from_trainer_state, refined_multipliers, write_schedule


def main(argv: list[str] | None = None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "trainer_state", help="the first run's trainer_state.json (log_history with grad_norm)"
    )
    parser.add_argument("--output", required=True, help="the schedule file to write (JSON)")
    parser.add_argument(
        "--variant", choices=("adam", "sgd"), default="adam", help="w_t = 1/ĝ (adam) or 1/ĝ² (sgd)"
    )
    parser.add_argument("--window", type=int, help="median filter width in steps (default: 5%% of the run)")
    args = parser.parse_args(argv)
    try:
        norms = grad_norms_from_trainer_state(args.trainer_state)
        window = args.window or max(1, round(0.05 * len(norms)))
        power = 1 if args.variant == "adam" else 2
        multipliers = refined_multipliers(norms, window=window, power=power)
    except (OSError, ValueError) as err:
        sys.exit(f"refine_schedule: {err}")
    write_schedule(
        args.output,
        multipliers,
        paper="arXiv 2310.07831 (Algorithm 1)",
        source=args.trainer_state,
        variant=args.variant,
        window=window,
        steps=len(norms),
    )
    peak = max(range(len(multipliers)), key=multipliers.__getitem__)
    print(
        f"{args.output}: {len(multipliers)} steps, peak at step {peak}, window {window}, variant {args.variant}"
    )
    return multipliers


if __name__ == "__main__":
    main()
