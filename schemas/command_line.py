"""A script's command line checked before Hydra acts on it: one line and exit status 2 for any bad key.

    if __name__ == "__main__":
        exit_if_invalid(CONFIGS, "train")    # then main(), decorated with @hydra.main
        main()

Composes the config with Hydra's Compose API exactly as @hydra.main will (each combination of a
multirun sweep), then checks it against its schemas. Hydra's own messages for the same mistakes span
many lines and come after it has made the run folder.
"""
from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path
from typing import Callable

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

import schemas  # noqa: F401  (registers the schemas in Hydra's ConfigStore)
from schemas.check import ConfigError, check_config, explain, spec
from schemas.fields import describe

MAX_COMBINATIONS = 32  # beyond this, a sweep is checked value by value instead of every combination


def check_command_line(argv: list[str], config_dir: Path, config_name: str) -> None:
    """Raise ConfigError (one line) for a bad group choice, a wrong type, an out-of-range value, a
    missing required value or an unknown key, in any run a (multirun) command line asks for."""
    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.shell_completion or args.config_path or args.config_dir or args.info:
        return  # not a run, or a config outside config_dir: Hydra's business
    for overrides in runs(args.overrides, args.multirun):
        check_choices(overrides, config_dir)
        check_config(compose_checked(overrides, config_dir, args.config_name or config_name))


def compose_checked(overrides: list[str], config_dir: Path, config_name: str):
    """The composed config (without the hydra node); composition errors become one-line ConfigErrors."""
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            return compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        explained = explain(error)
        failed = re.match(r"Error merging override ((.+?)=(.*))", str(error))
        if failed and not str(explained).startswith(failed[2].lstrip("+")):  # OmegaConf lost the key: find its type
            others = [o for o in overrides if o != failed[1]]
            raise _expected(failed[2].lstrip("+"), failed[3], others, config_dir, config_name) from None
        raise explained from None


def _expected(key: str, value: str, others: list[str], config_dir: Path, config_name: str) -> ConfigError:
    """`key=value: expected ...`, with what the key takes read from the config composed without it."""
    found = spec(compose_checked(others, config_dir, config_name), key)
    return ConfigError(f"{key}={value}: expected {describe(*found) if found else 'another value'}")


def runs(overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override lists of each run: one, or each combination of a sweep's values (each value once,
    the others at their first, when there are more than MAX_COMBINATIONS)."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as error:
        raise ConfigError(str(error).strip().splitlines()[0]) from None
    if not multirun:
        return [overrides]
    options = []
    for override, text in zip(parsed, overrides):
        if override.is_sweep_override() and not isinstance(override.value(), Glob):  # glob(...): Hydra's to expand
            key = override.get_key_element()
            options.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            options.append([text])
    if _count(options) <= MAX_COMBINATIONS:
        return [list(c) for c in itertools.product(*options)]
    firsts = [o[0] for o in options]
    return [firsts[:i] + [value] + firsts[i + 1:] for i, o in enumerate(options) for value in o]


def _count(options) -> int:
    count = 1
    for o in options:
        count *= len(o)
    return count


def check_choices(overrides: list[str], config_dir: Path) -> None:
    """`schedule=cosin`: a config group's choice must be one of its files (the schemas Hydra also
    lists under the group are not choices)."""
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        group = config_dir / key
        if sep and "." not in key and group.is_dir():
            choices = sorted(p.stem for p in group.glob("*.yaml"))
            if value not in choices:
                raise ConfigError(f"unknown {key} {value!r}; valid choices: {', '.join(choices)}")


def exit_if_invalid(config_dir: Path, config_name: str, argv: list[str] | None = None,
                    also: Callable[[list[str]], None] | None = None) -> None:
    """check_command_line (and `also`, a script's own checks of argv) on sys.argv; a ConfigError is
    printed as one line on stderr and the process exits with status 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if also is not None:
            also(argv)
        check_command_line(argv, config_dir, config_name)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
