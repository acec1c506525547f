"""A paper as Markdown: what ``/papers/{id}.md`` serves (Hugging Face's ``HfApi.read_paper`` fetches exactly this
path), and what the MCP server's ``get_paper`` tool and ``paper://`` resource return.

Everything in it is the paper's own record or this instance's community: title, authors, dates, categories,
links, the abstract, the code and project links and key phrases found in it, the extracted summary (labelled as
extracted), and the visible discussion. Text from the record is escaped where Markdown would read it as markup.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from paperfeed import feed
from paperfeed.models import Comment, Enrichment, Paper
from paperfeed.store import Store

MAX_COMMENTS = 100  # the newest discussion shown in the Markdown; the page has the rest
_MARKUP = re.compile(r"([\\`*_\[\]<>#|])")


def _plain(text: str) -> str:
    """``text`` on one line, with Markdown's markup characters escaped (LaTeX's $ is left for renderers)."""
    return _MARKUP.sub(r"\\\1", " ".join(text.split()))


def _date(paper: Paper) -> str | None:
    moment = paper.first_version_at
    return moment.date().isoformat() if moment else (paper.feed_date.isoformat() if paper.feed_date else None)


def _facts(paper: Paper, base_url: str) -> list[str]:
    facts = [f"- **arXiv:** [{paper.versioned_id}]({paper.links['abs']}) ([PDF]({paper.links['pdf']}))"]
    if _date(paper):
        facts.append(f"- **Published:** {_date(paper)}")
    if paper.feed_date:
        facts.append(f"- **In the feed:** {paper.feed_date.isoformat()}")
    if paper.categories:
        facts.append(f"- **Categories:** {', '.join(paper.categories)}")
    if paper.doi:
        facts.append(f"- **DOI:** [{_plain(paper.doi)}]({paper.links['doi']})")
    if paper.journal_ref:
        facts.append(f"- **Journal:** {_plain(paper.journal_ref)}")
    if paper.comment:
        facts.append(f"- **Comment:** {_plain(paper.comment)}")
    facts.append(f"- **Upvotes:** {paper.upvotes} · **Comments:** {paper.num_comments}")
    facts.append(f"- **On this site:** {base_url}/papers/{paper.arxiv_id}")
    return facts


def _enriched(e: Enrichment | None, base_url: str) -> list[str]:
    if e is None:
        return []
    lines = []
    if e.withdrawn_at:
        lines.append(f"- **Withdrawn:** {e.withdrawn_at.date().isoformat()}")
    if e.github_repo:
        lines.append(f"- **Code:** {e.github_repo}")
    if e.project_page:
        lines.append(f"- **Project page:** {e.project_page}")
    if e.keywords:
        chips = ", ".join(f"[{_plain(k)}]({base_url}/search?q={quote(chr(34) + k + chr(34))})" for k in e.keywords)
        lines.append(f"- **Keywords:** {chips}")
    return lines


def _discussion(comments: list[Comment], total: int) -> list[str]:
    if not comments:
        return []
    shown = f" (the newest {len(comments)} of {total})" if total > len(comments) else ""
    lines = ["", f"## Discussion{shown}", ""]
    for c in comments:
        lines += [f"**{_plain(c.user_name)}** · {c.created_at.date().isoformat()}", ""]
        lines += ["> " + line if line.strip() else ">" for line in c.body.strip().splitlines()] + [""]
    return lines


def paper_markdown(store: Store, raw_id: str, base_url: str) -> str:
    """The Markdown of one paper (an id with a version, a URL or ``arXiv:`` resolves to the paper), or
    NotFound. ``base_url`` (the configured public address, never a request's Host) prefixes this site's links."""
    paper = feed.paper(store, raw_id)
    enrichment = store.enrichments([paper.arxiv_id]).get(paper.arxiv_id)
    total = store.count_comments(paper.arxiv_id)
    recent = store.list_comments(paper.arxiv_id, limit=MAX_COMMENTS, offset=max(total - MAX_COMMENTS, 0))
    lines = [f"# {_plain(paper.title)}", ""]
    if paper.authors:
        lines += [f"**Authors:** {', '.join(_plain(a.name) for a in paper.authors)}", ""]
    lines += _facts(paper, base_url) + _enriched(enrichment, base_url)
    if enrichment and enrichment.summary:
        lines += ["", "## Summary (extracted: the abstract's most central sentence)", "", _plain(enrichment.summary)]
    lines += ["", "## Abstract", "", _plain(paper.abstract)]
    lines += _discussion(recent, total)
    return "\n".join(lines).rstrip() + "\n"
