"""Made-up but realistic documents for the documents benchmark, the same for every run (seeded).

English: sentences of 6-26 words drawn with Zipf's law over ~90 function words, ~420 common content
words and a long tail of ~6,000 invented words, each document favouring its own 40 "topic" words, in
paragraphs; so a query's terms hit many chunks (function words), some (topic words) or a few (the
tail), as in real prose. Chinese and Japanese: sentences of common words and particles, no spaces.
The PDF (fpdf2, Helvetica) holds one page of ~3,000 characters per page with a heading.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

from fpdf import FPDF


def _words(text: str) -> list[str]:
    """A list of words, written as words."""
    return text.split()


FUNCTION = _words(
    "the of and to a in is that for it as was with be by on not he this are or his from at which but "
    "have an they you were her she there one been we their all has would when if so no will more can "
    "who its about into than them only other new some could these may then do first any my now such "
    "like our over most also what after should because each those where very through while during "
    "before under both between without another against since among"
)
CONTENT = _words(
    "account action activity address agreement analysis answer approach area argument article "
    "attention audience authority balance bank basis behaviour benefit board body budget building "
    "business capacity capital career case cell century chance change chapter character charge "
    "choice church city claim class client climate coast code collection college colour committee "
    "community company comparison competition computer concept condition conference contract control "
    "council country county course court credit crisis culture customer damage data database decade "
    "decision defence delivery demand department design detail development device difference "
    "direction director discussion disease distance district division doctor document economy "
    "edition education effect effort election element energy engine engineer environment equipment "
    "error estate evening event evidence examination example exchange exercise experience expert "
    "factor failure family farm feature figure film finance fire flight floor focus force forest "
    "form framework freedom fund future game garden gas generation glass goal government ground "
    "group growth guide harbour health heart heat history holiday home hospital hotel house "
    "housing idea image impact income industry influence information injury instance institution "
    "insurance interest interview investment island issue journey judge kitchen knowledge labour "
    "language law leader league lesson letter level library licence light limit line list literature "
    "loan location machine magazine management manager market material matter meeting member memory "
    "message method middle mind minister model moment money month morning mountain movement museum "
    "music nation nature network news number object office officer opinion option order "
    "organisation output owner package page painting paper parent parliament partner party patient "
    "pattern payment performance period permission person picture piece plan planet plant platform "
    "player policy pollution population position pressure price principle priority prison problem "
    "procedure process product profit programme project property proposal protection provider "
    "purpose quality quarter question radio railway range rate reader reason record recovery "
    "reduction refund region relation release report request research resource response result "
    "return revenue review risk river road role room route rule safety salary sale sample scale "
    "scheme school science screen season sector security seller sense series service session "
    "settlement share shop signal skill society software soil solution source space speaker "
    "species speech spring staff stage standard station statement status steel stock storage store "
    "strategy street strength structure student studio study subject success supply support surface "
    "survey system table target task tax teacher team technology television temperature tenant term "
    "test theatre theory threat ticket tool topic tourism town trade traffic training transport "
    "travel treatment trial trust unit university user valley value vehicle version victim village "
    "visitor voice volume warehouse water weather website week window winter worker writer youth "
    "accept achieve agree allow announce apply argue arrange avoid build calculate collect compare "
    "complete consider create deliver describe develop discover explain improve include increase "
    "measure offer operate prepare produce protect provide publish receive reduce remove replace "
    "require review serve share store supply support train transfer update visit "
    "ancient annual central chemical civil commercial complex critical digital domestic early "
    "economic electric entire federal financial foreign formal general global heavy historical "
    "industrial internal legal local major medical mobile modern national natural northern "
    "official overall physical political popular private public recent regional remote rural "
    "senior serious similar southern special strong technical typical urban various visual western"
)
SYLLABLES = _words(
    "ba be bi bo bu da de di do ka ke ki ko la le li lo ma me mi mo na ne ni no "
    "ra re ri ro sa se si so ta te ti to va ve vi vo za"
)
ENDINGS = ("", "n", "r", "s", "l", "x", "nd", "rt", "st", "m")

ZH_WORDS = _words(
    "公司 政策 退款 服务 客户 产品 市场 技术 发展 管理 数据 系统 安全 问题 时间 经济 社会 文化 教育 研究 "
    "城市 政府 国家 工作 生活 环境 能源 交通 医疗 健康 科学 历史 音乐 艺术 电影 新闻 网络 信息 软件 硬件 "
    "设计 质量 价格 合同 订单 支付 账户 银行 投资 风险 利润 成本 增长 计划 项目 团队 会议 报告 分析 结果 "
    "方法 标准 规则 法律 用户 手机 电脑 天气 旅游 酒店 机场 火车 餐厅 食品 农业 工业 制造 物流 仓库 供应 "
    "需求 销售 广告 品牌 北京 上海 学生 老师 学校 大学 考试 图书 语言 翻译 文字 保险 租金 房屋 邮件 地址"
)
ZH_GLUE = _words("的 了 是 在 和 有 也 就 都 而且 因为 所以 但是 如果 需要 可以 我们 他们 这个 一些")
JA_WORDS = _words(
    "会社 製品 顧客 サービス データ システム 東京 大阪 天気 旅行 予約 ホテル 電車 料理 寿司 技術 開発 研究 "
    "学校 先生 学生 時間 問題 情報 安全 管理 市場 価格 注文 支払い 返品 配送 在庫 品質 設計 ソフトウェア "
    "ネットワーク セキュリティ コンピュータ 携帯 電話 会議 報告 計画 文化 歴史 音楽 映画 経済 社会 環境 "
    "エネルギー 病院 図書館 駅 空港 銀行 保険 契約 住所 メール 手続き 担当者 返金 規則 方針"
)
JA_PARTICLES = _words("は が を に で と の も から まで")
JA_ENDS = ("です。", "ます。", "ました。", "でした。", "ません。")


class Corpus:
    """Every document and query of one run, from one seed."""

    def __init__(self, seed: int = 20240611) -> None:
        self.rng = random.Random(seed)
        tail = sorted(
            {
                "".join(self.rng.choices(SYLLABLES, k=self.rng.randint(2, 4))) + self.rng.choice(ENDINGS)
                for _ in range(7000)
            }
        )
        self.rng.shuffle(tail)
        self.vocabulary = FUNCTION + CONTENT + tail[:6000]
        self.content = CONTENT + tail[:6000]
        self._base = [1.0 / (rank + 1) ** 1.05 for rank in range(len(self.vocabulary))]

    # ---- English -------------------------------------------------------------------------------

    def _weights(self) -> tuple[list[str], list[float]]:
        """The vocabulary with one document's topic words boosted, as cumulative weights."""
        weights = list(self._base)
        for i in self.rng.sample(range(len(FUNCTION), len(FUNCTION) + 600), 40):
            weights[i] = 0.02 * self.rng.uniform(0.5, 2.0)  # as frequent as a mid-rank function word
        return self.vocabulary, list(itertools.accumulate(weights))

    def english(self) -> Iterator[tuple[str, int]]:
        """Endless paragraphs of one document, each with its token count (as the gateway counts
        tokens: a word is one, a punctuation mark is one)."""
        words, cum = self._weights()
        rng = self.rng
        while True:
            sentences, tokens = [], 0
            for _ in range(rng.randint(3, 7)):
                drawn = rng.choices(words, cum_weights=cum, k=rng.randint(6, 26))
                if len(drawn) > 10 and rng.random() < 0.5:
                    drawn[rng.randint(3, len(drawn) - 4)] += ","
                    tokens += 1
                sentence = " ".join(drawn)
                sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".....?!"))
                tokens += len(drawn) + 1
            yield " ".join(sentences), tokens

    def english_document(self, tokens: int) -> str:
        """About `tokens` tokens of English in paragraphs."""
        out, count = [], 0
        for paragraph, n in self.english():
            out.append(paragraph)
            count += n
            if count >= tokens:
                return "\n\n".join(out) + "\n"
        raise AssertionError("unreachable")

    def write_text(self, path: Path, size: int) -> int:
        """A text file of about `size` bytes (several documents' worth of topics); its size."""
        written = 0
        with path.open("w", encoding="utf-8") as out:
            while written < size:
                for paragraph, _ in itertools.islice(self.english(), 200):
                    written += out.write(paragraph + "\n\n")
                    if written >= size:
                        break
        return path.stat().st_size

    # ---- Chinese and Japanese ------------------------------------------------------------------

    def chinese_document(self, tokens: int) -> str:
        rng, out, count = self.rng, [], 0
        while count < tokens:
            parts = [
                rng.choice(ZH_WORDS if rng.random() < 0.7 else ZH_GLUE) for _ in range(rng.randint(6, 16))
            ]
            sentence = "".join(parts[:5]) + "\uff0c" + "".join(parts[5:]) + "。"
            out.append(sentence + ("\n\n" if rng.random() < 0.15 else ""))
            count += len(sentence)  # one token per character, punctuation included
        return "".join(out)

    def japanese_document(self, tokens: int) -> str:
        rng, out, count = self.rng, [], 0
        while count < tokens:
            parts = [rng.choice(JA_WORDS) + rng.choice(JA_PARTICLES) for _ in range(rng.randint(3, 8))]
            sentence = "".join(parts) + rng.choice(JA_WORDS) + rng.choice(JA_ENDS)
            out.append(sentence + ("\n\n" if rng.random() < 0.15 else ""))
            count += len(sentence)
        return "".join(out)

    # ---- PDF -----------------------------------------------------------------------------------

    def write_pdf(self, path: Path, pages: int, chars: int = 3000) -> int:
        """A PDF of `pages` pages, each a heading and about `chars` characters of paragraphs; the
        number of characters of text written."""
        pdf = FPDF(format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(15, 15, 15)
        paragraphs = self.english()
        total = 0
        for number in range(1, pages + 1):
            pdf.add_page()
            pdf.set_font("helvetica", "B", 13)
            heading = f"Section {number}: " + " ".join(self.rng.sample(CONTENT, 3)).title()
            pdf.multi_cell(0, 7, heading)
            pdf.ln(2)
            pdf.set_font("helvetica", size=9)
            written = len(heading)
            while written < chars:
                paragraph = next(paragraphs)[0][: chars - written + 200]
                pdf.multi_cell(0, 4.2, paragraph)
                pdf.ln(1.5)
                written += len(paragraph)
            total += written
        if pdf.page_no() != pages:
            raise AssertionError(f"the PDF has {pdf.page_no()} pages, not {pages}: text overflowed")
        pdf.output(str(path))
        return total

    # ---- queries -------------------------------------------------------------------------------

    def queries(self, count: int, english: list[str], cjk: list[str]) -> list[str]:
        """`count` queries, about 85% English and 15% CJK: English ones are 1-4 consecutive words of
        a corpus document (common words weigh as in the text), or a content word and a tail word;
        CJK ones are 2-6 characters of a Chinese or Japanese document."""
        rng, out = self.rng, []
        for _ in range(count):
            roll = rng.random()
            if roll < 0.15 and cjk:
                doc = rng.choice(cjk)
                start = rng.randrange(len(doc) - 8)
                out.append(doc[start : start + rng.randint(2, 6)].strip("\uff0c\u3002\n") or doc[:4])
            elif roll < 0.3:
                out.append(f"{rng.choice(CONTENT)} {rng.choice(self.content)}")
            else:
                words = rng.choice(english).split()
                start = rng.randrange(len(words) - 5)
                out.append(" ".join(words[start : start + rng.randint(1, 4)]).strip(",.?!"))
        return out
