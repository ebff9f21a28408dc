"""push_selection over HTTP with the real clients: subset and indices modes, no-op re-push, errors, no partial card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hf_select.hub.card import split_card


def _pool(n=40):
    topics = ["my cat", "the market", "python code", "the weather"]
    return [{"prompt": f"question {i} about {topics[i % 4]}", "completion": f"answer {i} on {topics[i % 4]}",
             "domain": topics[i % 4].split()[-1]} for i in range(n)]


@pytest.fixture(scope="module")
def selection():
    import hf_select as hs

    return hs.select(_pool(), "bm25", target=["my cat purrs", "a cat sleeps"], k=10)


def _card(hub, repo_id, revision="main"):
    readme = hub.files(repo_id, revision=revision).get("README.md")
    return split_card(readme.decode()) if readme is not None else ({}, "")


def test_subset_push_roundtrips_through_load_dataset_and_load_selection(hub, write_token, repo_name, selection):
    import datasets

    from hf_select.hub import load_selection, push_selection

    repo_id = repo_name("subset")
    out = push_selection(selection, repo_id, token=write_token)
    assert out.repo_id == repo_id and out.mode == "subset" and out.commit_sha == hub.head(repo_id)
    assert out.commits_created == 2  # the rows (datasets.push_to_hub), then files + card in one commit
    files = hub.files(repo_id)
    assert {"selection.json", "hf_select/indices.parquet", "hf_select/scores.parquet", "hf_select/cost.png",
            "README.md"} <= set(files)
    assert any(p.startswith("data/train-") for p in files)

    expected = selection.to_dataset().to_dict()
    assert datasets.load_dataset(repo_id, split="train").to_dict() == expected
    rows, loaded = load_selection(repo_id)
    assert rows.to_dict() == expected
    np.testing.assert_array_equal(loaded.indices, selection.indices)
    np.testing.assert_array_equal(loaded.scores, selection.scores)
    assert loaded.config == json.loads(json.dumps(selection.config))
    assert loaded.cost.to_dict() == json.loads(json.dumps(selection.cost.to_dict()))
    assert loaded.provenance["hub"] == {"repo_id": repo_id, "revision": out.commit_sha, "mode": "subset"}

    meta, body = _card(hub, repo_id)
    assert meta["hf_select"]["k"] == 10 and meta["hf_select"]["selector"] == "bm25"
    assert meta["hf_select"]["cost"]["selection_seconds"] == pytest.approx(selection.cost.seconds)
    assert meta["dataset_info"]["splits"][0]["num_examples"] == 10  # datasets' own YAML is kept
    assert meta["configs"][0]["data_files"][0]["path"].startswith("data/train-")
    assert "![Scores" in body and "hf_select/cost.png" in body


def test_same_selection_twice_changes_nothing(hub, write_token, repo_name, selection):
    from hf_select.hub import push_selection

    for mode in ("subset", "indices"):
        repo_id = repo_name(f"noop-{mode}")
        push_selection(selection, repo_id, token=write_token, mode=mode)
        head, n = hub.head(repo_id), hub.num_commits(repo_id)
        again = selection.push_to_hub(repo_id, token=write_token, mode=mode)  # SelectionResult delegates
        assert (again.commits_created, again.commit_sha) == (0, head)
        assert (hub.head(repo_id), hub.num_commits(repo_id)) == (head, n)


def test_indices_mode_rebuilds_rows_and_refuses_a_changed_source(hub, write_token, repo_name, selection):
    import datasets

    from hf_select.hub import load_selection, push_selection

    pool = selection.dataset
    source_id = repo_name("pool")
    pool.push_to_hub(source_id, token=write_token)
    pool_rev = hub.head(source_id)
    repo_id = repo_name("indices")
    out = push_selection(selection, repo_id, token=write_token, mode="indices", source_repo_id=source_id,
                         source_revision=pool_rev)
    assert out.commits_created == 1
    assert not any(p.startswith("data/") for p in hub.files(repo_id))
    table = datasets.load_dataset(repo_id, split="train")  # the indices themselves, via the card's configs
    assert table["index"] == selection.indices.tolist() and table["rank"] == list(range(10))

    expected = selection.to_dataset().to_dict()
    rows, loaded = load_selection(repo_id)  # downloads the source at the recorded revision
    assert rows.to_dict() == expected and loaded.dataset.num_rows == 40
    rows, _ = load_selection(repo_id, dataset=pool)
    assert rows.to_dict() == expected

    # the source moves on: the recorded revision still loads; the new content is refused
    changed = pool.map(lambda r: {"completion": r["completion"].upper()})
    changed.push_to_hub(source_id, token=write_token)
    assert load_selection(repo_id)[0].to_dict() == expected
    with pytest.raises(ValueError, match="no longer matches"):
        load_selection(repo_id, dataset=changed)
    moving = repo_name("indices-main")
    push_selection(selection, moving, token=write_token, mode="indices", source_repo_id=source_id)
    with pytest.raises(ValueError, match="no longer matches"):
        load_selection(moving)  # source recorded at 'main', which now holds other rows
    with pytest.raises(ValueError, match="rows"):
        load_selection(repo_id, dataset=pool.select(range(39)))


def test_new_selection_replaces_the_old_one(hub, write_token, repo_name, selection):
    import hf_select as hs
    from hf_select.hub import load_selection, push_selection

    repo_id = repo_name("replace")
    push_selection(selection, repo_id, token=write_token)
    other = hs.select(_pool(), "bm25", target=["python code"], k=6)
    out = push_selection(other, repo_id, token=write_token)
    assert out.commits_created == 3  # retire old card, new rows, new card
    rows, loaded = load_selection(repo_id)
    assert rows.to_dict() == other.to_dataset().to_dict() and loaded.k == 6
    assert _card(hub, repo_id)[0]["hf_select"]["k"] == 6
    # subset -> indices: the rows of the old subset leave the repo in the card commit
    push_selection(other, repo_id, token=write_token, mode="indices")
    assert not any(p.startswith("data/") for p in hub.files(repo_id))
    assert load_selection(repo_id, dataset=other.dataset)[0].to_dict() == rows.to_dict()


@pytest.mark.parametrize("bad", ["not a repo", "a/b/c", "x--y", "-start/name", "name.", ""])
def test_bad_repo_ids_fail_before_any_request(hub, write_token, selection, bad):
    from hf_select.hub import push_selection

    seen = len(hub.log)
    with pytest.raises((ValueError, TypeError), match="repo"):
        push_selection(selection, bad, token=write_token)
    assert len(hub.log) == seen


def test_missing_and_invalid_tokens(hub, repo_name, selection):
    from hf_select.hub import HubPushError, push_selection

    repo_id = repo_name("token")
    seen = len(hub.log)
    with pytest.raises(ValueError, match="HF_TOKEN"):
        push_selection(selection, repo_id)
    assert len(hub.log) == seen
    with pytest.raises(HubPushError, match=f"{repo_id}.*token") as err:
        push_selection(selection, repo_id, token="hf_wrong_token_123")
    assert "hf_wrong_token_123" not in str(err.value)
    with pytest.raises(HubPushError, match="write access"):
        push_selection(selection, repo_id, token="hf_loopback_read_0123456789")
    with pytest.raises(KeyError):
        hub.repo(repo_id)  # nothing was created


def test_server_error_on_the_card_commit_leaves_no_card(hub, write_token, repo_name, selection):
    from hf_select.hub import HubPushError, load_selection, push_selection

    repo_id = repo_name("fail-card")
    hub.fail_next("POST", r"/commit/", status=500, body_contains=b'"selection.json"')
    with pytest.raises(HubPushError, match=f"{repo_id}.*committing the cost card.*HTTP 500.*re-run"):
        push_selection(selection, repo_id, token=write_token)
    files = hub.files(repo_id)
    assert any(p.startswith("data/") for p in files) and "selection.json" not in files
    assert "hf_select" not in _card(hub, repo_id)[0]  # only datasets' own card, describing rows that are there
    with pytest.raises(ValueError, match="no selection.json"):
        load_selection(repo_id)
    out = push_selection(selection, repo_id, token=write_token)  # re-run finishes the push with one commit
    assert out.commits_created == 1 and load_selection(repo_id)[1].k == 10


def test_failure_while_replacing_rows_never_leaves_the_old_card(hub, write_token, repo_name, selection):
    import hf_select as hs
    from hf_select.hub import HubPushError, push_selection

    repo_id = repo_name("fail-data")
    push_selection(selection, repo_id, token=write_token)
    other = hs.select(_pool(), "bm25", target=["the weather"], k=5)
    hub.fail_next("POST", r"/commit/", status=500, body_contains=b'"data/train-')
    with pytest.raises(HubPushError, match="uploading the selected rows"):
        push_selection(other, repo_id, token=write_token)
    files = hub.files(repo_id)
    assert "README.md" not in files and "selection.json" not in files  # old rows remain, but no card claims them


def test_server_error_in_indices_mode_changes_nothing(hub, write_token, repo_name, selection):
    from hf_select.hub import HubPushError, push_selection

    repo_id = repo_name("fail-indices")
    hub.fail_next("POST", r"/commit/", status=503)
    with pytest.raises(HubPushError, match="Nothing in the repo was changed"):
        push_selection(selection, repo_id, token=write_token, mode="indices")
    assert set(hub.files(repo_id)) == {".gitattributes"}


def test_private_repo_and_branch(hub, write_token, repo_name, selection):
    from hf_select.hub import load_selection, push_selection

    repo_id = repo_name("private")
    out = push_selection(selection, repo_id, token=write_token, private=True, revision="v2", mode="indices")
    assert hub.repo(repo_id).private and out.revision == "v2"
    assert "README.md" not in hub.files(repo_id, revision="main")
    with pytest.raises(ValueError, match="not found"):
        load_selection(repo_id, revision="v2", token=False)
    rows, loaded = load_selection(repo_id, revision="v2", token=write_token, dataset=selection.dataset)
    assert rows.num_rows == 10 and loaded.provenance["hub"]["revision"] == hub.head(repo_id, branch="v2")


def test_subset_mode_needs_the_rows(hub, write_token, repo_name, selection, tmp_path):
    from hf_select.hub import push_selection
    from hf_select.selection import SelectionResult

    loaded = SelectionResult.load(selection.save(tmp_path / "sel"))
    with pytest.raises(ValueError, match="dataset=<the pool>"):
        push_selection(loaded, repo_name("norows"), token=write_token)
    out = push_selection(loaded, repo_name("rows"), token=write_token, dataset=selection.dataset)
    assert out.commits_created == 2
