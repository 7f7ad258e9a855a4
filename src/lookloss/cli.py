"""The ``lookloss`` command.

Subcommands:

- ``lookloss publish``: copy a finished run's models, tables and figures to a published
  folder with a manifest (:func:`lookloss.checkpoints.publish`), for
  ``models.checkpoints``.

Errors in what a user gave (a file, a name, a value) end with one line on stderr and
exit status 2; nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

#: Exit status for bad input, as argparse uses it.
USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def _publish(args: argparse.Namespace) -> None:
    from lookloss import checkpoints, config

    root = Path(args.root)
    files = [root / "config.yaml", *args.configfile]
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise UsageError(f"config file(s) {missing} do not exist")
    try:
        settings = config.check(config.load(files), base_dir=root)
        manifest = checkpoints.publish(settings, args.out, root=root)
    except (config.ConfigError, checkpoints.CheckpointError) as error:
        raise UsageError(str(error)) from None
    print(f"published {len(manifest['files'])} files of {settings['results_dir']} to {args.out} "
          f"(commit {manifest['commit'][:12] or 'unknown'}{', with uncommitted changes' if manifest['uncommitted_changes'] else ''})")


def parser() -> argparse.ArgumentParser:
    """The command line of ``lookloss``."""
    top = argparse.ArgumentParser(prog="lookloss", allow_abbrev=False, description="Look at the Loss: detect false-positive motif "
                                  "interactions learned by neural networks.")
    commands = top.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish", allow_abbrev=False, help="publish a finished run's models, tables and figures with a "
                                  "manifest (for models.checkpoints)")
    publish.add_argument("--configfile", nargs="*", default=[], type=Path,
                         help="the run's config files, after config.yaml (as given to snakemake)")
    publish.add_argument("--root", default=".", help="the repository (config.yaml, git commit); default: here")
    publish.add_argument("--out", required=True, type=Path, help="the published folder, e.g. paper")
    publish.set_defaults(run=_publish)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except UsageError as error:
        print(f"lookloss {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
