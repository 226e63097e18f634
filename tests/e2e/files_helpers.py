"""Shared by the files and vector stores end-to-end tests: an engine gateway on SQLite or PostgreSQL (with
or without embeddings), realistic documents in English, Chinese and Japanese, real PDF and Word files, a
large text of numbered paragraphs, polling, and direct SQL on the gateway's database."""

# ruff: noqa: RUF001  (the CJK documents use full-width punctuation, as CJK text does)

from __future__ import annotations

import asyncio
import io
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import docx
import openai
from fpdf import FPDF

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.state import Context
from gateway.engine.retrieval.analyze import query_terms
from gateway.loopback import ServerThread
from tests.e2e.conftest import settings_for
from tests.engine.helpers_lifecycle import wait_for
from tests.postgres import PgServer, fresh_pg_db, in_thread

T = TypeVar("T")
DEADLINE = 60.0  # seconds any polling waits before the test fails

# -- the gateway -----------------------------------------------------------------------------------


@dataclass
class Gateway:
    """An engine gateway on loopback: `url` is its `/v1` base, `database_url` its store, `emulator` the
    emulator's per-app context (its record of chat requests, `chat_requests`)."""

    url: str
    database_url: str
    clients: list[openai.OpenAI] = field(default_factory=list)
    emulator: Context | None = None
    sandbox: Path | None = None  # where its code sessions keep their files (CODE_SANDBOX_DIR), if set

    def requests_with(self, token: str) -> list[dict[str, Any]]:
        """The chat requests sent to the emulator whose messages mention `token`, in order."""
        assert self.emulator is not None
        return [body for body in list(self.emulator.chat_requests) if token in str(body.get("messages"))]

    def client(self, key: str = "sk-files") -> openai.OpenAI:
        made = openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=60)
        self.clients.append(made)
        return made

    def async_client(self, key: str = "sk-files") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=60)

    def close(self) -> None:
        for made in self.clients:
            made.close()
        self.clients.clear()


def pg_database(server: PgServer) -> str:
    """A fresh PostgreSQL database, migrated (a copy of the session's template)."""
    made: list[str] = []

    async def make() -> None:
        made.append(await fresh_pg_db(server, migrated=True))

    in_thread(make())
    return made[0]


@contextmanager
def engine_gateway(
    db_dir: Path, *, database_url: str | None = None, embeddings: bool = False, **settings: Any
) -> Iterator[Gateway]:
    """The emulator and an engine gateway in front of it, on SQLite in `db_dir` unless `database_url`
    (PostgreSQL, migrated at start) is given; with `embeddings`, search is hybrid over the emulator's
    `/v1/embeddings`. Sweeps run every 0.2 s so that expiry can be watched."""
    options: dict[str, Any] = {"sweep_interval": 0.2, "keepalive_interval": 0}
    if database_url is not None:
        options.update(database_url=database_url, migrate_on_start=True)
    options.update(settings)
    emulator = create_emulator_app(EmulatorConfig())
    with ServerThread(emulator) as upstream:
        if embeddings:
            options.update(embeddings_url=upstream.url + "/v1", embeddings_api_key="k")
        app_settings = settings_for("engine", upstream.url, db_dir, **options)
        with ServerThread(create_app(app_settings)) as server:
            gateway = Gateway(
                server.url + "/v1",
                app_settings.database_url,
                emulator=emulator.state.emulator,
                sandbox=settings.get("code_sandbox_dir"),
            )
            try:
                yield gateway
            finally:
                gateway.close()


# -- polling ---------------------------------------------------------------------------------------


def poll(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE, every: float = 0.05) -> T:
    """`wait_for`, its failure naming `what`."""
    try:
        return wait_for(probe, timeout, every)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def settled_store(client: openai.OpenAI, store_id: str) -> Any:
    """The vector store once no file of it is in progress any more."""

    def probe() -> Any:
        store = client.vector_stores.retrieve(store_id)
        return store if store.status != "in_progress" else None

    return poll(probe, f"vector store {store_id} to settle")


def settled_file(client: openai.OpenAI, store_id: str, file_id: str) -> Any:
    def probe() -> Any:
        found = client.vector_stores.files.retrieve(file_id, vector_store_id=store_id)
        return found if found.status != "in_progress" else None

    return poll(probe, f"file {file_id} in {store_id} to settle")


async def settled_store_async(client: openai.AsyncOpenAI, store_id: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        store = await client.vector_stores.retrieve(store_id)
        if store.status != "in_progress":
            return store
        assert time.monotonic() < deadline, f"vector store {store_id} still in progress: {store}"
        await asyncio.sleep(0.05)


def chunk_texts(client: openai.OpenAI, store_id: str, file_id: str) -> list[str]:
    page = client.vector_stores.files.content(file_id, vector_store_id=store_id)
    texts: list[str] = []
    for part in page.data:
        assert part.text is not None, part
        texts.append(part.text)
    return texts


# -- direct SQL ------------------------------------------------------------------------------------


def execute(database_url: str, statement: str, *args: Any) -> int:
    """Run one statement on the gateway's database (`?` placeholders); the rows it changed."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path, timeout=10) as conn:
            return conn.execute(statement, args).rowcount
    numbered = statement
    for i in range(1, len(args) + 1):
        numbered = numbered.replace("?", f"${i}", 1)
    changed: list[int] = []

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            status = await conn.execute(numbered, *args)
            changed.append(int(status.rsplit(" ", 1)[-1]))
        finally:
            await conn.close()

    in_thread(run())
    return changed[0]


def scalar(database_url: str, statement: str, *args: Any) -> Any:
    """The first column of the first row of a query on the gateway's database (`?` placeholders)."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path, timeout=10) as conn:
            return conn.execute(statement, args).fetchone()[0]
    numbered = statement
    for i in range(1, len(args) + 1):
        numbered = numbered.replace("?", f"${i}", 1)
    found: list[Any] = []

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            found.append(await conn.fetchval(numbered, *args))
        finally:
            await conn.close()

    in_thread(run())
    return found[0]


def check_keyword_index(database_url: str) -> None:
    """On SQLite, FTS5's own check that its index matches the chunks it indexes (triggers kept it in
    step through every insert and cascaded delete); nothing to check on PostgreSQL (an index)."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path, timeout=10) as conn:
            fts = "vector_store_chunks_fts"
            conn.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")


# -- documents -------------------------------------------------------------------------------------

HANDBOOK_EN = """Platform Engineering Handbook

Every change to a production service starts as a pull request reviewed by at least two engineers.
Reviewers check correctness first, then readability, then test coverage; a reviewer who approves a
change shares responsibility for it.

Deployments go out in three stages. A canary release sends five percent of traffic to the new build for
thirty minutes while dashboards compare error rates and latency with the previous version. If the canary
stays healthy, the rollout widens to half of the fleet and then to every region.

Rollback procedure: any engineer on the rotation may trigger a rollback without asking permission. Run
the deploy tool with the previous build number, confirm that the health checks turn green, and post a
note in the incident channel. Investigate only once the service is stable again.

On-call engineers carry the pager for one week at a time. A page must be acknowledged within five
minutes; if nobody answers, the escalation policy calls the secondary and then the engineering manager.
"""

GARDEN_EN = """Notes from the Community Garden

Tomatoes need at least six hours of direct sun and deep watering twice a week. Mulch the beds with straw
in early summer to keep the soil cool and to stop weeds from taking over the paths.

The compost bins sit behind the shed. Add kitchen scraps, dry leaves and grass clippings in roughly equal
layers, turn the pile every fortnight with a fork, and keep it as damp as a wrung-out sponge.

Volunteers meet on Saturday mornings at nine. Bring gloves and a water bottle; the garden provides
spades, rakes, wheelbarrows and seedlings for the spring planting day.
"""

REFUND_ZH = """退款政策

自收到商品之日起七天内，顾客可以无理由申请退款。商品应保持完好，包装、配件和发票齐全。定制商品、已拆封的数码软件和鲜活易腐商品不适用无理由退货。

申请退款时，请登录账户，在订单详情页点击“申请售后”，选择退款原因并上传商品照片。客服将在一个工作日内审核申请。审核通过后，请在七天内将商品寄回指定仓库，并填写快递单号。

仓库签收并检验合格后，退款将在三至五个工作日内原路返回。使用信用卡支付的订单，到账时间以发卡银行为准。因质量问题产生的退货运费由本店承担，其他情况下运费由顾客承担。
"""

TRAVEL_JA = """京都旅行ガイド

京都には千年以上の歴史を持つ寺院や神社が数多くあります。初めて訪れる人には、清水寺、金閣寺、伏見稲荷大社を巡るコースがおすすめです。伏見稲荷大社の千本鳥居は早朝に歩くと人が少なく、静かな雰囲気を楽しめます。

市内の移動にはバスと地下鉄が便利です。桜の季節と紅葉の季節は大変混雑するので、宿泊先は早めに予約してください。

少し足を延ばして、嵐山や貴船の温泉旅館に泊まるのも良いでしょう。温泉旅館では夕食に京料理の懐石が出ることが多く、浴衣のまま館内を歩くことができます。
"""

# Name -> text; the search tests upload these.
DOCUMENTS: dict[str, str] = {
    "handbook.md": HANDBOOK_EN,
    "garden.txt": GARDEN_EN,
    "refund_policy.txt": REFUND_ZH,
    "kyoto_guide.txt": TRAVEL_JA,
}
# Name -> attributes, for the filter tests.
ATTRIBUTES: dict[str, dict[str, str | float | bool]] = {
    "handbook.md": {"lang": "en", "year": 2024, "team": "platform", "public": True},
    "garden.txt": {"lang": "en", "year": 2019, "team": "facilities", "public": False},
    "refund_policy.txt": {"lang": "zh", "year": 2023, "team": "support", "public": True},
    "kyoto_guide.txt": {"lang": "ja", "year": 2025, "team": "travel", "public": True},
}
# Language -> (a query, the one document holding its words).
QUERIES: dict[str, tuple[str, str]] = {
    "en": ("canary rollback procedure", "handbook.md"),
    "zh": ("如何申请退款", "refund_policy.txt"),
    "ja": ("温泉旅館の予約", "kyoto_guide.txt"),
}
# Words of every document at once, so that a search finds them all.
EVERYWHERE = "canary compost 退款 温泉"


def terms_of(text: str) -> set[str]:
    """The search terms in `text` (words and CJK bigrams, as the gateway indexes and queries them)."""
    return set(query_terms(text, limit=1_000_000))


def pdf_bytes(pages: list[str]) -> bytes:
    """A PDF (fpdf2) with one page per entry of `pages`, each holding that text."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text=text)
    return bytes(pdf.output())


def docx_bytes(paragraphs: list[str], table: list[list[str]]) -> bytes:
    """A Word file (python-docx): the paragraphs, then a table of `table`'s rows."""
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, text in enumerate(row):
            grid.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def numbered_text(megabytes: float, tag: str) -> bytes:
    """About `megabytes` MB of English text in distinct numbered paragraphs (every paragraph unique)."""
    target = int(megabytes * 1_000_000)
    parts: list[str] = []
    size = 0
    i = 0
    while size < target:
        paragraph = (
            f"Paragraph {i:07d} of the {tag} ledger records entry {i} with checksum {i * 7919 % 100003} "
            f"and notes that the harbour lights blinked {i % 97} times before dawn.\n\n"
        )
        parts.append(paragraph)
        size += len(paragraph)
        i += 1
    return "".join(parts).encode()
