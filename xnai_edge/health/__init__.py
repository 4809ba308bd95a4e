"""Health of the appliance: memory pressure -> tiers, and talking to systemd.

- ``memory`` / ``cgroup``: readers for PSI, /proc/meminfo and the process's cgroup (v1 or v2).
- ``trigger``: the PSI poll trigger (kernel wake-up on memory stalls).
- ``tiers``: the pure tier policy (step down at once, up one tier after a quiet period) and the
  admission check for loading a model.
- ``monitor``: the async loop that reads, decides and publishes ``TierChanged``.
- ``notify``: the sd_notify protocol (READY, STATUS, WATCHDOG, EXTEND_TIMEOUT_USEC, STOPPING).
"""
