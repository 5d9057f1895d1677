"""A zygote for the kill -9 tests: imports va-engine once, then forks one worker per request.

Each worker is a real process running ``va-engine ... run --once`` that the
test kills with SIGKILL; forking from a warm parent keeps each kill point
cheap (no 1 s of imports per process). Protocol, one JSON object per line:

    {"op": "run", "argv": [...], "failpoints": "name:n", "log": "/path"} -> {"pid": 123}
    {"op": "wait", "pid": 123}   -> {"code": 0 | null, "signal": 9 | null}
"""

from __future__ import annotations

import json
import os
import sys

from va_engine.cli.app import _register_commands, main
from va_engine.workflows import daemon as _daemon  # noqa: F401  (warm the imports)
from va_engine.workflows import failpoints


def serve() -> None:
    _register_commands()
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "run":
            pid = os.fork()
            if pid == 0:  # the worker
                fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                failpoints.configure(request.get("failpoints", ""))
                code = main(request["argv"])
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            answer: dict[str, int | None] = {"pid": pid}
        else:
            _, status = os.waitpid(int(request["pid"]), 0)
            answer = {
                "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
