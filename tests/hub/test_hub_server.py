"""The loopback Hub speaks the protocol of the real huggingface_hub and datasets clients."""

from __future__ import annotations

import pytest


def test_endpoint_is_loopback_everywhere(hub):
    import datasets.config
    import huggingface_hub.constants as constants
    from huggingface_hub import HfApi

    assert constants.ENDPOINT == hub.url == datasets.config.HF_ENDPOINT
    assert HfApi().endpoint == hub.url
    assert hub.url.startswith("http://127.0.0.1:")
    assert constants.HF_HUB_OFFLINE is False


def test_only_loopback_is_reachable(hub_env):
    import socket

    with pytest.raises(OSError, match="may not resolve"):
        socket.getaddrinfo("huggingface.co", 443)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(OSError, match="may not connect"):
        sock.connect(("10.255.255.1", 443))
    assert hub_env.attempts == [("resolve", "huggingface.co"), ("connect", ("10.255.255.1", 443))]
    hub_env.attempts.clear()  # the guard fails any test that leaves attempts behind


def test_whoami_and_bad_tokens(hub, write_token):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    assert HfApi(token=write_token).whoami()["name"] == "hs-tester"
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        HfApi(token="hf_not_a_token").whoami()


def test_create_upload_list_download_roundtrip(hub, write_token, repo_name, tmp_path):
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(token=write_token)
    repo_id = repo_name("files")
    url = api.create_repo(repo_id, repo_type="dataset")
    assert url.repo_id == repo_id and url.repo_type == "dataset"
    again = api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    assert again.repo_id == repo_id

    info = api.upload_file(path_or_fileobj=b"hello loopback\n", path_in_repo="notes/hello.txt", repo_id=repo_id,
                           repo_type="dataset", commit_message="add hello")
    binary = bytes(range(256)) * 40  # NUL bytes: goes through the LFS batch + PUT + verify path
    api.upload_file(path_or_fileobj=binary, path_in_repo="blob.bin", repo_id=repo_id, repo_type="dataset")
    head = hub.head(repo_id)
    assert head == api.dataset_info(repo_id).sha != info.oid
    assert sorted(api.list_repo_files(repo_id, repo_type="dataset")) == [".gitattributes", "blob.bin",
                                                                          "notes/hello.txt"]
    path = hf_hub_download(repo_id, "notes/hello.txt", repo_type="dataset", cache_dir=tmp_path)
    assert open(path, "rb").read() == b"hello loopback\n"
    path = hf_hub_download(repo_id, "blob.bin", repo_type="dataset", cache_dir=tmp_path)
    assert open(path, "rb").read() == binary
    # an older revision still serves the file as it was
    path = hf_hub_download(repo_id, "notes/hello.txt", repo_type="dataset", revision=info.oid, cache_dir=tmp_path)
    assert open(path, "rb").read() == b"hello loopback\n"
    infos = {p.path: p for p in api.get_paths_info(repo_id, ["blob.bin", "notes", "missing"], repo_type="dataset")}
    assert set(infos) == {"blob.bin", "notes"} and infos["blob.bin"].lfs.size == len(binary)


def test_identical_upload_creates_no_commit(hub, write_token, repo_name):
    from huggingface_hub import HfApi

    api = HfApi(token=write_token)
    repo_id = repo_name("noop")
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"same", path_in_repo="a.txt", repo_id=repo_id, repo_type="dataset")
    head, n = hub.head(repo_id), hub.num_commits(repo_id)
    api.upload_file(path_or_fileobj=b"same", path_in_repo="a.txt", repo_id=repo_id, repo_type="dataset")
    assert (hub.head(repo_id), hub.num_commits(repo_id)) == (head, n)
    api.upload_file(path_or_fileobj=b"changed", path_in_repo="a.txt", repo_id=repo_id, repo_type="dataset")
    assert hub.head(repo_id) != head and hub.num_commits(repo_id) == n + 1


def test_tree_pagination_and_errors(hub, write_token, repo_name):
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    api = HfApi(token=write_token)
    repo_id = repo_name("tree")
    api.create_repo(repo_id, repo_type="dataset", private=True)
    ops = [CommitOperationAdd(f"d/f{i}.txt", f"{i}".encode()) for i in range(7)]  # page_size=3 -> 3+ pages
    api.create_commit(repo_id, ops, commit_message="many", repo_type="dataset")
    tree = list(api.list_repo_tree(repo_id, repo_type="dataset", recursive=True))
    assert sorted(t.path for t in tree) == sorted([".gitattributes", "d"] + [f"d/f{i}.txt" for i in range(7)])
    assert len(list(api.list_repo_tree(repo_id, "d", repo_type="dataset"))) == 7
    with pytest.raises(RepositoryNotFoundError):  # private: invisible without the owner's token
        HfApi(token=False).dataset_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(repo_name("does-not-exist"))
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(repo_id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        api.hf_hub_download(repo_id, "nope.txt", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as err:  # writes need a write token
        HfApi(token="hf_loopback_read_0123456789").upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id, repo_type="dataset")
    assert err.value.response.status_code == 403


def test_injected_server_error(hub, write_token, repo_name):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=write_token)
    repo_id = repo_name("fault")
    api.create_repo(repo_id, repo_type="dataset")
    head = hub.head(repo_id)
    hub.fail_next("POST", r"/commit/", status=500)
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id, repo_type="dataset")
    assert err.value.response.status_code == 500
    assert hub.head(repo_id) == head


def test_datasets_push_to_hub_and_load_dataset_roundtrip(hub, write_token, repo_name):
    import datasets

    repo_id = repo_name("ds")
    ds = datasets.Dataset.from_dict({"text": [f"row {i}" for i in range(25)], "score": [i / 3 for i in range(25)]})
    ds.push_to_hub(repo_id, token=write_token)
    files = hub.files(repo_id)
    assert "README.md" in files and any(p.startswith("data/train-") and p.endswith(".parquet") for p in files)
    head = hub.head(repo_id)
    ds.push_to_hub(repo_id, token=write_token)  # identical push: no new commit
    assert hub.head(repo_id) == head
    loaded = datasets.load_dataset(repo_id, split="train", token=write_token)
    assert loaded.to_dict() == ds.to_dict()
    branch = datasets.load_dataset(repo_id, split="train", revision=head, token=write_token)
    assert branch.num_rows == 25
