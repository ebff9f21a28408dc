"""``hf-select push``: push a saved selection (and its rows) to a Hub dataset repo with its cost card.

``--selection`` is a folder written by ``hf-select select`` / ``hf-select demo`` (``selection/`` + ``subset.parquet``)
or by ``SelectionResult.save``. The token comes from ``--token``, else ``HF_TOKEN`` / the saved login; it is never
printed.

Example:
    hf-select push --selection out/ --repo-id me/my-selection
    hf-select push --selection out/selection --repo-id me/my-selection --mode indices --source-repo-id org/pool
"""

from __future__ import annotations

import argparse
import os

SUBSET_FILES = ("subset.parquet", "subset.jsonl")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("push", help="Push a selection with its cost card to the Hub.", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--selection", required=True, help="Folder of `hf-select select` or of SelectionResult.save.")
    p.add_argument("--repo-id", required=True, help="Dataset repo: namespace/name (created if missing).")
    p.add_argument("--mode", choices=("subset", "indices"), default="subset",
                   help="subset: the selected rows; indices: indices + scores + source fingerprint only.")
    p.add_argument("--dataset", help="The pool (file or save_to_disk folder) when the folder holds no subset file.")
    p.add_argument("--private", action="store_true", help="Create the repo private.")
    p.add_argument("--token", help="Hugging Face write token (default: HF_TOKEN or the saved login).")
    p.add_argument("--revision", help="Branch to push to (default: main).")
    p.add_argument("--source-repo-id", help="Hub id of the pool, recorded for --mode indices.")
    p.add_argument("--source-revision", help="Revision of the pool on the Hub.")
    p.add_argument("--source-split", default="train", help="Split of the pool on the Hub.")
    p.add_argument("--plot", help="PNG to put in the card instead of the default score/cost plot.")
    p.add_argument("--no-plot", action="store_true", help="Push no plot.")
    from ..hub.card import CardConfig  # light: the default licence is the card's own

    default_license = CardConfig.license
    p.add_argument("--license", default=default_license, help="Hub license id written in the card (default: "
                   f"{default_license}); 'other' needs --license-name and --license-link.")
    p.add_argument("--license-name", help="With --license other: an id for the licence (e.g. my-licence-1.0).")
    p.add_argument("--license-link", help="With --license other: LICENSE.md (a file in the repo) or a URL.")
    return p


def run(args: argparse.Namespace) -> int:
    from ..data.io import as_dataset
    from ..hub.card import CardConfig
    from ..hub.push import push_selection
    from ..result import SelectionResult

    card_config = CardConfig(license=args.license, license_name=args.license_name, license_link=args.license_link)
    folder = args.selection
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--selection {folder!r} is not a folder.")
    saved = os.path.join(folder, "selection") if os.path.isdir(os.path.join(folder, "selection")) else folder
    result = SelectionResult.load(saved)
    subset = None
    if args.mode == "subset" and args.dataset is None:
        found = [os.path.join(folder, f) for f in SUBSET_FILES if os.path.exists(os.path.join(folder, f))]
        if not found:
            raise ValueError(f"--mode subset needs the rows: {folder!r} has no {' or '.join(SUBSET_FILES)}; pass "
                             "--dataset <pool> or use --mode indices.")
        subset = as_dataset(found[0], "--selection")
    plot = False if args.no_plot else (args.plot or True)
    out = push_selection(result, args.repo_id, mode=args.mode, private=args.private or None, token=args.token,
                         revision=args.revision, plot=plot, dataset=args.dataset, subset=subset,
                         source_repo_id=args.source_repo_id, source_revision=args.source_revision,
                         source_split=args.source_split, card_config=card_config)
    change = "already up to date (no commit)" if out.commits_created == 0 else f"{out.commits_created} commit(s)"
    print(f"pushed {result.k} rows ({out.mode}) selected by {result.selector} to {out.url} @ {out.commit_sha[:12]}: "
          f"{change}")
    return 0
