"""The interop test harness: network namespaces, Isthmus gateways, strongSwan peers, tcpdump captures and
named checks, for the pytest scenarios in Tests/Interop (see README.md there for the API and the scenarios).

Modules:
  config      knobs from the environment (ISTHMUS, WAIT, KEEP, ARTIFACTS, ...) and the repository paths
  checks      Checks: named PASS/FAIL results of one scenario; every failure is reported, not just the first
  proc        processes this run started (by PID), bounded commands, wait_for; cleanup on exit and signals
  netns       Namespace and Topology: namespaces and links named with a per-test prefix, deleted by finalizers
  sites       the standard two-site topology (office host, office gateway, cloud gateway, VM)
  scene       Scene: one scenario's namespaces, processes, gateways, peers and captures, torn down in reverse
  isthmus     Isthmus: `isthmus run` from YAML, status() as parsed JSON, wait_for(...), the CLI verbs
  strongswan  StrongSwan: charon (kernel-libipsec, private /run, own vici socket), swanctl, list_sas()
  capture     Capture: tcpdump on an interface, its pcap read back as datagrams, IKE message summaries
  prometheus  the Prometheus text exposition format: parse samples, check the format
  ikev2_checks, ikev1_checks, export_checks
              the comparisons of strongSwan's and Isthmus's view of the SAs (formerly scripts/lib/interop_*.py)
  isakmp_wire IKEv1 Informationals of a capture, decrypted with the keys charon logged: which Delete, in order
"""
