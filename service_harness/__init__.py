"""The harness the demo, the template's tests and the benchmark share.

It bakes projects, runs them as real uvicorn processes on free loopback ports,
waits (bounded) for them to be up and stops them by PID:

* ``matrix``: the option combinations and the one test id each gets;
* ``projects``: baking, and making a baked package importable;
* ``environment``: the one scrubbed environment every service starts with;
* ``ports``: free loopback ports, and checking that one was released;
* ``processes``: a child process we own, its log file, stopping it by PID;
* ``health``: the bounded wait for a service to be up;
* ``services``: the one launcher, an app factory under uvicorn;
* ``pair``: service_b and service_a started and stopped as one.
"""
