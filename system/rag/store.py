"""App data in MongoDB ("Atlas"; FerretDB offline): user profiles and document metadata.

Collections per the shared contract: `users` {_id, name, groups, role} and `documents`
{_id, title, acl_groups, chunks, created_at}.

    store = MongoStore(AsyncMongoClient(url), "halab")
    user = await store.user("alice")
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import AsyncMongoClient


class MongoStore:
    def __init__(self, client: AsyncMongoClient, db: str = "halab"):
        self.client = client
        self.db = client[db]

    async def user(self, name: str) -> dict | None:
        return await self.db.users.find_one({"_id": name})

    async def documents(self, ids: list[str]) -> dict[str, dict]:
        if not ids:
            return {}
        cursor = self.db.documents.find({"_id": {"$in": list(ids)}})
        return {d["_id"]: d async for d in cursor}

    async def document(self, doc_id: str) -> dict | None:
        return await self.db.documents.find_one({"_id": doc_id})

    async def put_document(self, doc_id: str, title: str, acl_groups: list[str], chunks: int) -> dict:
        doc = {"_id": doc_id, "title": title, "acl_groups": list(acl_groups), "chunks": chunks,
               "created_at": datetime.now(UTC)}
        await self.db.documents.replace_one({"_id": doc_id}, doc, upsert=True)
        return doc

    async def delete_document(self, doc_id: str) -> bool:
        return (await self.db.documents.delete_one({"_id": doc_id})).deleted_count > 0

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()
