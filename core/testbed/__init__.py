"""An emulated edge cluster on one Linux machine (``parawire testbed``).

Each device is a network namespace joined to the coordinator's (the root namespace)
through a ``tbf``-shaped veth link, and runs ``parawire worker`` inside a cgroup v1 CPU
quota. Everything created carries one prefix (:data:`parawire.testbed.system.PREFIX`)
and is removed on every exit path; docs/testbed.md says what is and is not emulated.
"""
