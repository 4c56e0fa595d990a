"""``waifang calibrate``: fit the behaviour to monthly status data; load -> fit -> save.

Writes ``PARAMS.toml`` (a scenario fragment: ``[behaviour]`` with the fitted parameters and
``[calibration]`` with their standard errors and the data's digest; a scenario takes it with
``include = ["PARAMS.toml"]``) and ``FIT.csv`` (observed against predicted monthly
transitions, fitted and held-out accounts), and prints the goodness of fit.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from waifang.errors import InputError
from waifang.scenarios.cli_args import check_output_file


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` to the ``waifang`` parser."""
    p = sub.add_parser(
        "calibrate",
        help="fit the borrower behaviour to monthly delinquency status data",
        description="Fit the behaviour parameters that drive bucket transitions (daily "
        "payment hazards by bucket, cure share) by maximum likelihood to monthly status data "
        "(ID, MONTHS_BALANCE, STATUS as in credit_record.csv, or account, month, dpd_bucket), "
        "for the population of borrowers of a scenario, and check the fit on held-out accounts.",
    )
    p.add_argument("data", metavar="DATA.csv", help="monthly status file")
    p.add_argument("--out", required=True, metavar="PARAMS.toml", help="scenario fragment")
    p.add_argument("--fit", required=True, metavar="FIT.csv", help="observed vs predicted")
    p.add_argument(
        "--scenario",
        default=None,
        metavar="FILE",
        help="take the population of borrowers (segments) and other behaviour parameters from "
        "this scenario ('baseline' for the shipped one); default: the engine's defaults",
    )
    p.add_argument(
        "--holdout",
        type=float,
        default=0.3,
        metavar="SHARE",
        help="share of accounts held out of the fit and used to check it (default 0.3)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the split")
    p.set_defaults(handler=calibrate_command)


def _write(path: Path, text: str) -> None:
    """Write through a temporary file, so a failure leaves an earlier file whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write ({err.strerror})") from None


def calibrate_command(args: argparse.Namespace) -> int:
    import pandas as pd

    from waifang.calibration import DEFAULT_SEGMENTS, calibrate, params_toml
    from waifang.scenarios.run_commands import scenario_path
    from waifang.scenarios.schema import load_scenario

    out = check_output_file("--out", args.out)
    fit_csv = check_output_file("--fit", args.fit)
    if out.resolve() == fit_csv.resolve():
        raise InputError(f"--fit {fit_csv}: the same file as --out")
    segments, template, charge_off = DEFAULT_SEGMENTS, None, 180
    if args.scenario is not None:
        scenario = load_scenario(scenario_path(args.scenario))
        if scenario.portfolio.tape is not None:
            raise InputError(
                f"--scenario {args.scenario}: portfolio.tape: a tape's traits are not a "
                "population to calibrate on; give a scenario with segments"
            )
        segments, template = scenario.portfolio.segments, scenario.behaviour
        charge_off = scenario.charge_off_dpd
    result = calibrate(
        args.data,
        segments=segments,
        template=template,
        holdout=args.holdout,
        seed=args.seed,
        charge_off_dpd=charge_off,
    )
    table = pd.DataFrame(result.table())
    _write(out, params_toml(result, source=f"waifang calibrate {args.data}"))
    _write(fit_csv, table.to_csv(index=False))
    for line in result.summary_lines():
        print(line)
    print(f"wrote {out} and {fit_csv}")
    return 0
