"""Math in titles and abstracts as MathML made on the server: converted where it parses, sanitised, bounded,
and left as escaped text where it does not."""

from __future__ import annotations

import time

import pytest

from paperfeed.web.mathml import MAX_FORMULAS, title_html, with_math
from paperfeed.web.pages import abstract_html


def test_math_spans_become_mathml_and_the_rest_stays_text() -> None:
    html = str(title_html(r"Sparse $\alpha$-Entmax in $O(n^2)$ & <b>bold</b>"))
    assert html.count("<math") == 2 and "<mi>α</mi>" in html and "<msup>" in html
    assert "&amp; &lt;b&gt;bold&lt;/b&gt;" in html  # the text around it is escaped
    assert str(title_html(r"inline \(x_i\) too")).count("<msub>") == 1
    assert str(title_html("costs $5 and $6")).count("<math") == 1  # "$5 and $" is read as math, as arXiv does


@pytest.mark.parametrize(
    "hostile",
    [
        r"$\href{javascript:alert(1)}{x}$",
        r"$\text{<img src=x onerror=alert(1)>}$",
        "$<script>alert(1)</script>$",
        r"$\style{color:red}{x}$",
        '$x" onmouseover="alert(1)$',
    ],
)
def test_hostile_latex_yields_no_link_script_or_handler(hostile: str) -> None:
    html = str(title_html(hostile)).lower()
    assert "javascript" not in html and "<script" not in html and "onerror" not in html and "<img" not in html
    assert "href" not in html and "style=" not in html and 'onmouseover="' not in html


def test_what_does_not_convert_stays_escaped_latex_and_work_is_bounded() -> None:
    deep = "$" + "{" * 300 + "x" + "}" * 300 + "$"
    long = "$" + "x+" * 400 + "$"
    broken = r"$x_1_2$ and $\begin{matrix}$"
    started = time.perf_counter()
    for text in (deep, long, broken):
        html = str(title_html(text))
        assert "<math" not in html or text is broken
    assert "x_1_2" in str(title_html(broken))  # a double subscript does not convert: shown as written
    many = " ".join(["$x$"] * (MAX_FORMULAS + 10))
    assert str(with_math(many)).count("<math") == MAX_FORMULAS
    assert time.perf_counter() - started < 10  # generous: a pathological title must not hang a page


def test_abstracts_get_math_and_links_but_no_link_inside_math() -> None:
    html = str(abstract_html(r"See https://github.com/a/b for $\mathbb{R}^d$ and $http://x.io$."))
    assert '<a href="https://github.com/a/b" rel="nofollow noopener">' in html and "ℝ" in html
    assert 'href="http://x.io' not in html  # the URL-looking text inside the formula is math, not a link
