"""Kubernetes reads over TLS, as a kubeconfig describes the cluster: the gateway reads on the
event loop (bot/gateways/http_reads.py), not through the client's pool, so it must honour the
same settings the client would: the cluster's CA, a client certificate, skipping verification
when told to, the server name to verify, and a proxy. Against the Kubernetes double served
over HTTPS with certificates made by `trustme`; only 127.0.0.1 is used."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme
from kubernetes import client as k8s

from bot.errors import Unavailable
from bot.gateways.kubernetes import KubeGateway
from bot.sandbox.doubles.kubernetes import KubernetesDouble, orion_prod
from bot.sandbox.doubles.kubernetes.store import Cluster

NS = "orion-prod"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The CA, and a client certificate it signed, as a kubeconfig would name them."""
    folder = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(folder / "ca.crt"))
    person = ca.issue_cert("fireline@example.com")
    person.cert_chain_pems[0].write_to_path(str(folder / "client.crt"))
    person.private_key_pem.write_to_path(str(folder / "client.key"))
    return {name: folder / f"{name}" for name in ("ca.crt", "client.crt", "client.key")}


def serving(ca: trustme.CA, *names: str, client_ca: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    if client_ca:  # mutual TLS: the server asks for a certificate its CA signed
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def start(context: ssl.SSLContext) -> KubernetesDouble:
    cluster = Cluster()
    orion_prod(cluster)
    return KubernetesDouble(cluster, ssl_context=context)


@pytest.fixture
def double(ca: trustme.CA) -> Iterator[KubernetesDouble]:
    with start(serving(ca, "127.0.0.1")) as server:
        yield server


async def read(url: str, **settings: object) -> list[str]:
    """The pods of orion-prod, through a gateway on a kubeconfig with `settings`."""
    configuration = k8s.Configuration(host=url)
    for name, value in settings.items():
        setattr(configuration, name, value)
    api = k8s.ApiClient(configuration)
    gateway = KubeGateway(api, attempts=1, timeout_s=5)
    try:
        return [p["metadata"]["name"] for p in await gateway.list_pods(NS)]
    finally:
        await gateway.aclose()
        api.close()  # type: ignore[no-untyped-call]  # kubernetes leaves it untyped


@pytest.fixture
async def expected(double: KubernetesDouble, files: dict[str, Path]) -> AsyncIterator[list[str]]:
    yield await read(double.base_url, ssl_ca_cert=str(files["ca.crt"]))


async def test_the_cluster_s_ca_is_trusted_and_nothing_else(
    double: KubernetesDouble, files: dict[str, Path], expected: list[str]
) -> None:
    assert expected and all(name for name in expected)
    with pytest.raises(Unavailable, match="could not be reached"):
        await read(double.base_url)  # the system's CAs do not know this cluster
    assert await read(double.base_url, verify_ssl=False) == expected  # insecure-skip-tls-verify


async def test_the_ca_may_be_given_as_data(
    double: KubernetesDouble, ca: trustme.CA, expected: list[str]
) -> None:
    assert await read(double.base_url, ca_cert_data=ca.cert_pem.bytes().decode()) == expected


async def test_a_client_certificate_is_presented_when_the_server_asks(
    ca: trustme.CA, files: dict[str, Path]
) -> None:
    with start(serving(ca, "127.0.0.1", client_ca=True)) as server:
        trusted = {"ssl_ca_cert": str(files["ca.crt"])}
        with pytest.raises(Unavailable):
            await read(server.base_url, **trusted)
        pods = await read(
            server.base_url,
            **trusted,
            cert_file=str(files["client.crt"]),
            key_file=str(files["client.key"]),
        )
        assert pods


async def test_the_server_name_to_verify_is_the_kubeconfig_s(
    ca: trustme.CA, files: dict[str, Path]
) -> None:
    """A server whose certificate names only `kubernetes.default.svc`, reached by its IP:
    refused, unless `tls-server-name` says that name is the one to verify."""
    with start(serving(ca, "kubernetes.default.svc")) as server:
        trusted = {"ssl_ca_cert": str(files["ca.crt"])}
        with pytest.raises(Unavailable):
            await read(server.base_url, **trusted)
        named = await read(server.base_url, **trusted, tls_server_name="kubernetes.default.svc")
        assert named


async def test_a_proxy_is_honoured_and_no_proxy_bypasses_it(
    double: KubernetesDouble, files: dict[str, Path], expected: list[str]
) -> None:
    """A kubeconfig's proxy is used (reads go through the client's pool, which speaks to
    proxies): one where nothing listens fails the read instead of being ignored; `no_proxy`
    naming the server reads directly."""
    trusted = {"ssl_ca_cert": str(files["ca.crt"])}
    nowhere = "http://127.0.0.1:9"  # the discard port: nothing listens here
    with pytest.raises(Unavailable, match="could not be reached"):
        await read(double.base_url, **trusted, proxy=nowhere)
    assert await read(double.base_url, **trusted, proxy=nowhere, no_proxy="127.0.0.1") == expected
