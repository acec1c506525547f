"""Generated arXiv responses (Atom API pages, OAI-PMH ListRecords pages) in the real formats' shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape


def atom_entry(n: int, *, version: int = 1, published: datetime | None = None, title: str | None = None) -> str:
    published = published or datetime(2024, 3, 4, 10, 0, tzinfo=UTC) + timedelta(minutes=n)
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""
  <entry>
    <id>http://arxiv.org/abs/2403.{n:05d}v{version}</id>
    <updated>{stamp}</updated>
    <published>{stamp}</published>
    <title>{escape(title or f"Paper number {n}: attention & more")}</title>
    <summary>  We study problem {n}.
  It is wrapped over lines.</summary>
    <author><name>Ada Lovelace</name><arxiv:affiliation>Analytical Engines Ltd</arxiv:affiliation></author>
    <author><name>Alan Turing</name></author>
    <arxiv:comment>12 pages</arxiv:comment>
    <arxiv:journal_ref>J. Test {n} (2024)</arxiv:journal_ref>
    <arxiv:doi>10.1000/test.{n}</arxiv:doi>
    <link href="http://arxiv.org/abs/2403.{n:05d}v{version}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2403.{n:05d}v{version}" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="stat.ML" scheme="http://arxiv.org/schemas/atom"/>
  </entry>"""


def atom_page(entries: list[str], *, total: int, start: int) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <link href="http://arxiv.org/api/query" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query</title>
  <id>http://arxiv.org/api/abc</id>
  <updated>2024-03-05T00:00:00-05:00</updated>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
  <opensearch:itemsPerPage>{len(entries)}</opensearch:itemsPerPage>{"".join(entries)}
</feed>""".encode()


ATOM_ERROR = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <opensearch:totalResults>1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345</summary>
  </entry>
</feed>"""


def oai_record(n: int, *, deleted: bool = False, created: str = "2024-03-04") -> str:
    header = f"""<header{' status="deleted"' if deleted else ""}>
      <identifier>oai:arXiv.org:2403.{n:05d}</identifier><datestamp>2024-03-06</datestamp>
      <setSpec>cs</setSpec></header>"""
    if deleted:
        return f"<record>{header}</record>"
    return f"""<record>{header}
    <metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/">
      <id>2403.{n:05d}</id><created>{created}</created><updated>2024-03-05</updated>
      <authors><author><keyname>Hopper</keyname><forenames>Grace</forenames>
        <affiliation>Navy</affiliation></author>
        <author><keyname>Knuth</keyname><forenames>Donald E.</forenames><suffix>Jr</suffix></author></authors>
      <title>OAI paper {n}</title><categories>cs.DL cs.IR</categories>
      <comments>5 pages</comments><license>http://creativecommons.org/licenses/by/4.0/</license>
      <abstract>  Abstract of record {n}. </abstract>
    </arXiv></metadata></record>"""


def oai_page(
    records: list[str],
    *,
    token: str | None,
    size: int | None = None,
    response_date: str = "2024-03-07T10:00:00Z",
) -> bytes:
    resumption = ""
    if token is not None or size is not None:
        attrs = f' completeListSize="{size}"' if size is not None else ""
        resumption = f"<resumptionToken{attrs}>{token or ''}</resumptionToken>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
  <responseDate>{response_date}</responseDate>
  <request verb="ListRecords">http://export.arxiv.org/oai2</request>
  <ListRecords>{"".join(records)}{resumption}</ListRecords>
</OAI-PMH>""".encode()


def oai_error(code: str, text: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
  <responseDate>2024-03-07T10:00:00Z</responseDate>
  <request verb="ListRecords">http://export.arxiv.org/oai2</request>
  <error code="{code}">{text}</error>
</OAI-PMH>""".encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol4;</title></feed>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&xxe;</title></feed>"""
