"""Links a paper's own text gives: its code repository and its project page, and whether it was withdrawn. Pure
functions over the abstract and the arXiv comment; nothing is fetched.

A code repository is a github.com or gitlab.com project (``https://github.com/owner/repo``: the host in lower
case, no ``www.``, no ``.git``, no deeper path, no query); a project page is the first other web page the text
links to that is not a code host, a paper index (arXiv, DOI, OpenReview), a file store or a video.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# A URL as abstracts write it: with a scheme, or a bare code-host or www. address. LaTeX's \url{...} and
# \href{...}{...} leave braces around it; those are stripped with the trailing punctuation below.
_URL = re.compile(r"(?:https?://|www\.|\b(?:github\.com|gitlab\.com|huggingface\.co)/)[^\s<>\"'{}\\]+", re.I)
_TRAILING = ".,;:!?)]}>'\"*"
_CODE_HOSTS = ("github.com", "gitlab.com")
_NOT_REPO_OWNERS = frozenset(
    {"about", "features", "topics", "orgs", "settings", "marketplace", "sponsors", "collections", "search", "login"}
)
_NOT_PROJECT = (
    "arxiv.org", "doi.org", "dx.doi.org", "openreview.net", "aclanthology.org", "ieeexplore.ieee.org",
    "dl.acm.org", "creativecommons.org", "zenodo.org", "drive.google.com", "docs.google.com", "youtu.be",
    "youtube.com", "bit.ly", "aka.ms", "pypi.org", "kaggle.com", "figshare.com", "osf.io", "dropbox.com",
    "anonymous.4open.science", "huggingface.co", "hf.co", "twitter.com", "x.com", "vimeo.com", "paperswithcode.com",
)  # fmt: skip
_WITHDRAWN = re.compile(
    r"\b(?:(?:this|the)\s+(?:paper|article|submission|manuscript|work|version)\s+(?:has\s+been|was|is)\s+withdrawn"
    r"|withdrawn\s+by\s+(?:the\s+)?(?:authors?|arxiv|administrators?|moderators?)"
    r"|(?:paper|submission)\s+withdrawn\b"
    r"|i\s+(?:would\s+like\s+to|want\s+to|wish\s+to)\s+withdraw\s+(?:this|the|my)\s+(?:paper|article|submission))",
    re.I,
)


@dataclass(frozen=True, slots=True)
class PaperLinks:
    code: str | None  # the code repository
    project: str | None  # the project page


def urls(text: str) -> list[str]:
    """Every URL in ``text``, in order, with LaTeX braces and sentence punctuation taken off its end, and a
    scheme put in front where the text left it out."""
    return [url for _, _, url in url_spans(text)]


def url_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of every URL in ``text``: the characters it spans as written, and the URL as
    :func:`urls` gives it (for links in displayed text)."""
    found = []
    for match in _URL.finditer(text or ""):
        url = match.group(0).rstrip(_TRAILING)
        if url.count("(") < url.count(")"):  # "(see https://x.io/a)": the bracket belongs to the sentence
            url = url[: url.rfind(")")]
        end = match.start() + len(url)
        if not url.lower().startswith(("http://", "https://")):
            url = "https://" + url
        found.append((match.start(), end, url))
    return found


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def code_repository(url: str) -> str | None:
    """``https://github.com/owner/repo`` for a link into a GitHub or GitLab project, else None."""
    try:
        host, path = _host(url), urlsplit(url).path
    except ValueError:  # "https://[oops": not a URL after all
        return None
    if host not in _CODE_HOSTS:
        return None
    parts = [p for p in path.split("/") if p]
    if host == "gitlab.com" and "-" in parts:  # gitlab.com/group/sub/project/-/tree/main
        parts = parts[: parts.index("-")]
    elif host == "github.com":
        parts = parts[:2]
    if len(parts) < 2 or parts[0].lower() in _NOT_REPO_OWNERS:
        return None
    parts[-1] = parts[-1].removesuffix(".git")
    if not all(re.fullmatch(r"[A-Za-z0-9_.\-]+", p) for p in parts) or parts[-1] in ("", ".", ".."):
        return None
    return f"https://{host}/" + "/".join(parts)


def _project_page(url: str) -> str | None:
    try:
        host = _host(url)
        parsed = urlsplit(url)
    except ValueError:
        return None
    if not host or "." not in host or host in _CODE_HOSTS:
        return None
    if any(host == h or host.endswith("." + h) for h in _NOT_PROJECT):
        return None
    if parsed.path.lower().endswith((".pdf", ".zip", ".tar.gz", ".mp4")):
        return None
    path = parsed.path if parsed.path not in ("", "/") else "/"
    scheme = "http" if parsed.scheme.lower() == "http" else "https"  # an http-only lab site stays reachable
    return f"{scheme}://{host}{path}" + (f"?{parsed.query}" if parsed.query else "")


def paper_links(abstract: str, comment: str | None) -> PaperLinks:
    """The code repository and project page that the abstract (first) or the comment links to."""
    found = urls(abstract) + urls(comment or "")
    code = next((repo for repo in map(code_repository, found) if repo), None)
    project = next((page for page in map(_project_page, found) if page), None)
    return PaperLinks(code, project)


def is_withdrawn(abstract: str, comment: str | None) -> bool:
    """Whether the comment, or the start of the abstract, says the paper was withdrawn."""
    return bool(_WITHDRAWN.search(comment or "") or _WITHDRAWN.search((abstract or "")[:300]))
