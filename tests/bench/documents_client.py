"""The benchmark's client of the gateway's Files and Vector Stores API (httpx, one kept-alive connection).

An upload is a multipart/form-data body made by a generator: the `purpose` field first (as the SDKs
send it), then the file read from disk 1 MiB at a time, with a Content-Length, so neither side holds
the file. Every call must succeed: an error answer stops the benchmark with the gateway's message.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

POLL = 0.05  # seconds between two reads of an ingestion's status
READ = 1 << 20


class ApiError(RuntimeError):
    pass


def static(max_tokens: int, overlap: int) -> dict[str, Any]:
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": max_tokens, "chunk_overlap_tokens": overlap},
    }


class Client:
    def __init__(self, base: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=base + "/v1",
            headers={"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"},
            timeout=httpx.Timeout(600.0, connect=10.0),
        )

    def close(self) -> None:
        self.http.close()

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise ApiError(
                f"{response.request.method} {response.request.url} -> {response.status_code}: "
                f"{response.text[:500]}"
            )
        doc: dict[str, Any] = response.json()
        return doc

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.http.post(path, json=body))

    def get(self, path: str) -> dict[str, Any]:
        return self._json(self.http.get(path))

    # ---- files ------------------------------------------------------------------------------------

    def upload(self, path: Path, filename: str | None = None, purpose: str = "assistants") -> str:
        """`files.create` of the file at `path`, streamed; its id."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename or path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            with path.open("rb") as f:
                while block := f.read(READ):
                    yield block
            yield tail

        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + path.stat().st_size + len(tail)),
        }
        return str(self._json(self.http.post("/files", content=body(), headers=headers))["id"])

    def delete_file(self, file_id: str) -> None:
        self._json(self.http.delete(f"/files/{file_id}"))

    # ---- vector stores ----------------------------------------------------------------------------

    def create_store(self, name: str) -> str:
        return str(self.post("/vector_stores", {"name": name})["id"])

    def attach(self, store_id: str, file_id: str, chunking: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"file_id": file_id}
        if chunking is not None:
            body["chunking_strategy"] = chunking
        self.post(f"/vector_stores/{store_id}/files", body)

    def wait_file(self, store_id: str, file_id: str, timeout: float = 3600) -> dict[str, Any]:
        """Poll the store's file until it is no longer `in_progress`; it must end `completed`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.get(f"/vector_stores/{store_id}/files/{file_id}")
            if doc["status"] != "in_progress":
                if doc["status"] != "completed":
                    raise ApiError(f"file {file_id} ended {doc['status']}: {doc.get('last_error')}")
                return doc
            time.sleep(POLL)
        raise ApiError(f"file {file_id} still in progress after {timeout} s")

    def batch(self, store_id: str, file_ids: list[str], chunking: dict[str, Any]) -> str:
        body = {"file_ids": file_ids, "chunking_strategy": chunking}
        return str(self.post(f"/vector_stores/{store_id}/file_batches", body)["id"])

    def wait_batch(self, store_id: str, batch_id: str, timeout: float = 3600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.get(f"/vector_stores/{store_id}/file_batches/{batch_id}")
            if doc["status"] != "in_progress":
                counts = doc["file_counts"]
                if doc["status"] != "completed" or counts["failed"] or counts["cancelled"]:
                    raise ApiError(f"batch {batch_id} ended {doc['status']}: {counts}")
                return doc
            time.sleep(POLL)
        raise ApiError(f"batch {batch_id} still in progress after {timeout} s")

    def search(self, store_id: str, query: str) -> int:
        """One search (OpenAI's default of 10 results at most); the number of results."""
        doc = self.post(f"/vector_stores/{store_id}/search", {"query": query})
        return len(doc["data"])
