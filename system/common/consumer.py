"""The caller a service behind the gateway serves: FastAPI's side of system/common/identity.py.

    @router.get("/cms/policies")
    async def list_policies(author: Consumer): ...

The service keeps its identity key in `app.state.identity_key` (bytes); without one it
believes no one (401 on every route that names a caller).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from system.common.identity import GROUPS, HEADER, ROLE, USERNAME, IdentityError, verify


def consumer(request: Request,
             x_consumer_username: Annotated[str | None, Header(alias=USERNAME, max_length=200)] = None,
             x_consumer_groups: Annotated[str, Header(alias=GROUPS, max_length=2000)] = "",
             x_consumer_role: Annotated[str, Header(alias=ROLE, max_length=200)] = "",
             x_consumer_assertion: Annotated[str | None, Header(alias=HEADER, max_length=200)] = None) -> str:
    """The asserted user name, or 401 saying what is missing."""
    if not x_consumer_username or not x_consumer_username.strip():
        raise HTTPException(401, f"missing {USERNAME}: this service is reached through the gateway")
    try:
        verify(getattr(request.app.state, "identity_key", b""), x_consumer_assertion, x_consumer_username,
               x_consumer_groups, x_consumer_role)
    except IdentityError as exc:
        raise HTTPException(401, str(exc)) from None
    return x_consumer_username.strip()


Consumer = Annotated[str, Depends(consumer)]
