"""A harness Call through Locust's FastHttpSession: completed by harness/clients/lab.py's
outcome rules into the process's history, and reported to Locust's statistics with the same
verdict and with the latency from the intended start (an open-model arrival's), not from
when the request finally went out.
"""

from __future__ import annotations

from harness.clients import lab
from harness.clients.recorder import Recorder
from harness.history import Op


class Dropped(Exception):
    """An arrival that found every in-flight slot busy (Locust counts it as a failure)."""


def error_name(exc: BaseException | None) -> str:
    """geventhttpclient's exceptions in lab.broken's terms.

    >>> error_name(TimeoutError()), error_name(ConnectionRefusedError()), error_name(ConnectionResetError())
    ('timeout', 'connect', 'ConnectionResetError')
    """
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect"
    return type(exc).__name__


def send(client, recorder: Recorder, keys: dict[str, str], site_of: dict[str, str], process: int | str,
         consumer: str, call: lab.Call, at: float | None = None) -> Op:
    invoked = recorder.invoke(process, call.f, call.value, at=at)
    with client.request(call.method, call.path, json=call.body, headers={"apikey": keys[consumer]},
                        name=call.f, catch_response=True) as resp:
        if resp.status_code:
            op = lab.answered(recorder, invoked, call, resp.status_code, resp.headers.get, resp.json, site_of)
        else:
            op = lab.broken(recorder, invoked, call, error_name(resp.error))
        resp.request_meta["response_time"] = op.latency * 1000
        if op.type == "ok":
            resp.success()
        else:
            resp.failure(f"{op.type}: {op.error}")
    return op


def dropped(environment, recorder: Recorder, process: int, f: str, at: float) -> Op:
    op = recorder.dropped(process, f, at)
    environment.events.request.fire(request_type="DROPPED", name=f, response_time=0, response_length=0,
                                    exception=Dropped("every in-flight slot was busy"), context={})
    return op
