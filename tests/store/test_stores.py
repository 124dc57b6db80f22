"""Both artifact stores behind one interface; MinIO against a real S3 server (moto) on loopback."""

from __future__ import annotations

import os
import socket
import threading

import pytest
import urllib3

from activeloop.errors import InputError
from activeloop.store import LocalStore, sha256_bytes, store_from_uri


class FlakyProxy:
    """A TCP proxy on loopback that can cut connections after some bytes (server "goes away")."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.cut_after: int | None = None  # upload bytes (all connections) before the next cut
        self.cuts = 0
        self._sent = 0
        self._lock = threading.Lock()
        self.down = False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upload: bool) -> None:
        try:
            while data := src.recv(65536):
                if upload:
                    with self._lock:
                        self._sent += len(data)
                        cut = self.cut_after is not None and self._sent > self.cut_after
                        if cut:
                            self.cut_after = None
                            self.cuts += 1
                    if cut:
                        raise ConnectionResetError("cut by the test proxy")
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield ("127.0.0.1", port)
    server.stop()


@pytest.fixture
def proxy(s3_server):
    p = FlakyProxy(s3_server)
    yield p
    p.close()


@pytest.fixture
def minio_env(monkeypatch, proxy):
    monkeypatch.setenv("MINIO_ENDPOINT", f"127.0.0.1:{proxy.port}")
    monkeypatch.setenv("MINIO_ACCESS_KEY", "testing")
    monkeypatch.setenv("MINIO_SECRET_KEY", "testing")
    monkeypatch.setenv("MINIO_REGION", "us-east-1")
    return proxy


def _stores(tmp_path, minio_env):
    from activeloop.store.minio import MinioStore

    return [LocalStore(tmp_path / "local"), MinioStore("activeloop", "lab/c1", backoff=0.05)]


def test_both_stores_put_get_list_hash_the_same_way(tmp_path, minio_env):
    for store in _stores(tmp_path, minio_env):
        assert store.put_bytes("rounds/round-001/proposals.csv", b"variant\nV39A\n") == sha256_bytes(
            b"variant\nV39A\n"
        )
        store.put_bytes("campaign.yaml", b"x: 1\n")
        store.put_bytes("campaign.yaml", b"x: 2\n")  # replaced, not appended
        assert store.get_bytes("campaign.yaml") == b"x: 2\n"
        assert store.list() == ["campaign.yaml", "rounds/round-001/proposals.csv"]
        assert store.list("rounds/") == ["rounds/round-001/proposals.csv"]
        assert store.exists("campaign.yaml") and not store.exists("nope.csv")
        assert store.content_hash("campaign.yaml") == sha256_bytes(b"x: 2\n")
        with pytest.raises(KeyError):
            store.get_bytes("nope.csv")
        with pytest.raises(InputError, match="key: '../escape' is not a relative artifact path"):
            store.put_bytes("../escape", b"")
        f = tmp_path / "model.bin"
        f.write_bytes(os.urandom(1000))
        assert store.put_file("model/model.bin", f) == sha256_bytes(f.read_bytes())
        assert store.get_file("model/model.bin", tmp_path / "back.bin").read_bytes() == f.read_bytes()


def test_minio_store_from_uri_creates_the_bucket(minio_env):
    store = store_from_uri("s3://fresh-bucket/campaigns/lab")
    assert store.uri("a/b.csv") == "s3://fresh-bucket/campaigns/lab/a/b.csv"
    store.put_bytes("a/b.csv", b"1")
    assert store.client.bucket_exists("fresh-bucket")


def test_multipart_upload_survives_a_connection_cut_mid_upload(tmp_path, minio_env):
    from activeloop.store.minio import MinioStore

    store = MinioStore("activeloop", "big", backoff=0.05, part_size=5 * 1024 * 1024)
    data = os.urandom(12 * 1024 * 1024)  # three parts
    f = tmp_path / "adapter.safetensors"
    f.write_bytes(data)
    minio_env.cut_after = 7 * 1024 * 1024  # inside the second part
    sha = store.put_file("model/adapter.safetensors", f)
    assert minio_env.cuts == 1
    assert sha == sha256_bytes(data)
    assert store.get_bytes("model/adapter.safetensors") == data
    assert store.content_hash("model/adapter.safetensors") == sha


def test_a_server_that_stays_away_fails_loudly_and_loses_nothing(tmp_path, minio_env):
    from activeloop.store.minio import MinioStore

    store = MinioStore("activeloop", "safe", backoff=0.01, retries=3)
    store.put_bytes("measurements.csv", b"variant,value\nV39A,1.0\n")
    minio_env.down = True
    with pytest.raises((OSError, urllib3.exceptions.HTTPError)):
        store.put_bytes("measurements.csv", b"variant,value\nV39A,2.0\n")
    minio_env.down = False
    assert store.get_bytes("measurements.csv") == b"variant,value\nV39A,1.0\n"


def test_store_uri_errors_name_the_field():
    with pytest.raises(InputError, match="store: 'ftp://x': use file:///path or s3://bucket/prefix"):
        store_from_uri("ftp://x")
