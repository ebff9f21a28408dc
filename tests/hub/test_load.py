"""load_selection: clear errors for what is not a pushed selection; reads pinned to one commit."""

from __future__ import annotations

import pytest


def test_errors_name_the_repo_and_the_fix(hub, write_token, repo_name):
    import datasets

    from hf_select.hub import load_selection

    missing = repo_name("missing")
    with pytest.raises(ValueError, match=f"{missing}.*not found"):
        load_selection(missing)
    plain = repo_name("plain")
    datasets.Dataset.from_dict({"text": ["a", "b"]}).push_to_hub(plain, token=write_token)
    with pytest.raises(ValueError, match="no selection.json"):
        load_selection(plain)
    with pytest.raises(ValueError, match="no revision 'nope'"):
        load_selection(plain, revision="nope")
    with pytest.raises(ValueError, match="not a valid Hub repo id"):
        load_selection("bad//id")


def test_reads_the_commit_it_started_from(hub, write_token, repo_name):
    import hf_select as hs
    from hf_select.hub import load_selection, push_selection

    pool = [f"text number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(20)]
    first = hs.select(pool, "bm25", target=["cats"], k=4)
    repo_id = repo_name("pinned")
    old = push_selection(first, repo_id, token=write_token).commit_sha
    second = hs.select(pool, "bm25", target=["dogs"], k=7)
    push_selection(second, repo_id, token=write_token)
    rows_old, sel_old = load_selection(repo_id, revision=old)
    rows_new, sel_new = load_selection(repo_id)
    assert (rows_old.num_rows, sel_old.k, rows_new.num_rows, sel_new.k) == (4, 4, 7, 7)
    assert rows_old.to_dict() == first.to_dataset().to_dict()
    assert sel_old.provenance["hub"]["revision"] == old
