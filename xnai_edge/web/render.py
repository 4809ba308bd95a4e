"""HTML from small templates: ``string.Template`` files in ``templates/``, escaped values.

No template engine (one dependency fewer, nothing to compile): pages are a layout plus a few
tables, and every value goes through ``esc`` before it is put in.  The CSS is inlined into each
page (a few KB) so that the login page needs no other request, and the JavaScript is one static
file served after login.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from starlette.responses import HTMLResponse

NAV = (("/", "Overview"), ("/interactions", "Interactions"), ("/knowledge", "Knowledge"),
       ("/system", "System"))


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


@cache
def asset(name: str) -> str:
    return (resources.files("xnai_edge.web") / name).read_text(encoding="utf-8")


def template(name: str) -> Template:
    return Template(asset(f"templates/{name}"))


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], *, raw: bool = False,
          table_id: str = "") -> str:
    """A table; cells are escaped unless ``raw`` (then the caller escaped them)."""
    names = list(headers)
    head = "".join(f"<th scope=col>{esc(h)}</th>" for h in names) if any(names) else ""
    body = "".join("<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    ident = f' id="{esc(table_id)}"' if table_id else ""
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table{ident}>{thead}<tbody>{body}</tbody></table>"


def page(title: str, body: str, *, path: str = "", csrf: str = "", status: int = 200,
         script: bool = True) -> HTMLResponse:
    """The layout: navigation (when logged in), the inlined CSS, the page's body."""
    nav = ""
    if csrf:
        links = "".join(
            f'<a href="{href}"{" aria-current=page" if href == path else ""}>{esc(name)}</a>'
            for href, name in NAV)
        nav = (f"<nav>{links}<form method=post action=/logout class=inline>"
               f'<input type=hidden name=csrf value="{esc(csrf)}">'
               "<button type=submit>Log out</button></form></nav>")
    js = '<script src="/static/app.js" defer></script>' if script and csrf else ""
    text = template("layout.html").substitute(
        title=esc(title), css=asset("static/style.css"), nav=nav, body=body, script=js,
        csrf=esc(csrf))
    return HTMLResponse(text, status_code=status, headers={"cache-control": "no-store"})
