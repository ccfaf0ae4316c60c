"""Containers for every component, on testcontainers, for tests and the topology builder.

Every class is labelled with harness.labels (so `halab down` and the test fixtures find
it), runs from the image `harness.images.image_for` names, takes its address from the
Docker API (internal networks publish no ports), and is ready only when the component's
own health signal answers — never after a sleep.

    >>> from harness.containers import EtcdContainer, InternalNetwork
    >>> with InternalNetwork(run_id, "dc1") as net:                            # doctest: +SKIP
    ...     with EtcdContainer(run_id).on_network(net, "etcd1") as etcd:
    ...         etcd.client_url          # 'http://172.x.y.z:2379'

Classes: EtcdContainer, OpaContainer, BaoContainer, FerretDBContainer, ToxiproxyContainer,
HaproxyContainer (alias LbContainer), PythonServiceContainer, PrometheusContainer; InternalNetwork.
"""

from harness.containers.bao import BaoContainer
from harness.containers.base import ContainerNotReady, HalabContainer
from harness.containers.etcd import EtcdContainer
from harness.containers.ferretdb import FerretDBContainer
from harness.containers.haproxy import HaproxyContainer, LbContainer
from harness.containers.network import InternalNetwork
from harness.containers.opa import OpaContainer
from harness.containers.prometheus import PrometheusContainer
from harness.containers.python_service import PythonServiceContainer
from harness.containers.toxiproxy import ToxiproxyContainer

__all__ = [
    "BaoContainer",
    "ContainerNotReady",
    "EtcdContainer",
    "FerretDBContainer",
    "HaproxyContainer",
    "HalabContainer",
    "InternalNetwork",
    "LbContainer",
    "OpaContainer",
    "PrometheusContainer",
    "PythonServiceContainer",
    "ToxiproxyContainer",
]
