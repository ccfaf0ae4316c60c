"""Realise a topology spec (harness/spec.py) as labelled containers, and take it down again.

    >>> from harness.spec import preset
    >>> from harness.topology import running
    >>> with running(preset("seed")) as lab:                 # doctest: +SKIP
    ...     lab.state.vip_url, lab.consumers["alice"]        # users' way in, a seeded API key
    ...     lab.wan.cut("dc1", "dc2"); lab.wan.heal()

From another process, `attach()` gives the same object from the state file and the private
secrets directory (`lab.wan`, `lab.consumers`, `lab.bao`, `lab.url("etcd1", "client")`);
`bao.unseal_member(lab.state, "vault2")` unseals a restarted node.

One concept per module:
  plan        names, ports and aliases of every component (no Docker)
  crossings   which connections cross the WAN (from the spec's TALKS_TO)
  wan         the Toxiproxy proxy carrying each crossing, and their listing
  wanlink     the running proxies: populate, cut, heal
  networks    one internal network per site, the one publishing network, the VIP's address
  components/ one start recipe per component kind (on harness/containers)
  bao         OpenBao init, unseal, Raft join over HTTP; the harness's limited token
  seeding     routes and consumers, default policy, user profiles, corpus, first query
  state       the state file (no secrets) and the private secrets directory; its
              components read as typed views (Component)
  lab         what the nemesis, the load and seeding may use of a running topology (Lab)
  sources     --source offline|official|auto
  realise     up / down / running: the phases
  teardown    removal by label, containers in parallel
  status      what `halab status` shows
  cli         `halab up|status|down`
"""

__all__ = ["Running", "attach", "down", "running", "up"]


def __getattr__(name: str):
    # realise loads docker and testcontainers: only when asked, so that the Docker-free
    # modules here (state, settings, plan) import without them (Locust's processes read
    # the state file through them).
    if name in __all__:
        from harness.topology import realise

        return getattr(realise, name)
    raise AttributeError(f"module 'harness.topology' has no attribute {name!r}")
