"""The gallery of report.html: one card per evaluated image, and the script that sorts it.

Cards are plain HTML (readable without JavaScript); the sort keys sit in numeric data-*
attributes, so the script never handles a string that came from a file. Thumbnails carry
their size and ``loading="lazy"``: a page of 1,000 images loads only what is on screen.
"""

from __future__ import annotations

from collections.abc import Sequence

from mammorcnn.engine.report.html import attr_num, esc, num, table

SORTS = (
    ("missed", "missed lesions first"),
    ("fp", "highest-scoring false positive first"),
    ("dice", "worst Dice first"),
    ("score", "highest score first"),
    ("order", "file order"),
)
SHOWS = (
    ("all", "all images"),
    ("missed", "with a missed lesion"),
    ("fp", "with a false positive"),
    ("lesion", "with lesions"),
    ("normal", "without lesions"),
)

# Sort keys read numbers only; empty attributes (no FP, no Dice) go last in every order.
SCRIPT = """(function(){
var grid=document.getElementById('gallery');if(!grid)return;
var cards=Array.prototype.slice.call(grid.children);
var sortSel=document.getElementById('sort'),show=document.getElementById('show'),
text=document.getElementById('filter'),count=document.getElementById('count');
function v(c,k){var s=c.getAttribute('data-'+k);return s===''?null:Number(s);}
function by(k,dir){return function(a,b){var x=v(a,k),y=v(b,k);
if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;return dir*(x-y);};}
function chain(fs){return function(a,b){for(var i=0;i<fs.length;i++){var r=fs[i](a,b);
if(r)return r;}return 0;};}
var order=by('order',1);
var sorts={missed:chain([by('missed',-1),by('fp',-1),order]),fp:chain([by('fp',-1),order]),
dice:chain([by('dice',1),order]),score:chain([by('score',-1),order]),order:order};
var shows={all:function(){return true;},missed:function(c){return v(c,'missed')>0;},
fp:function(c){return v(c,'nfp')>0;},lesion:function(c){return v(c,'lesions')>0;},
normal:function(c){return v(c,'lesions')===0;}};
function apply(){var q=text.value.toLowerCase(),n=0;
cards.slice().sort(sorts[sortSel.value]||order).forEach(function(c){grid.appendChild(c);
var ok=shows[show.value](c)&&(!q||c.textContent.toLowerCase().indexOf(q)>=0);
c.hidden=!ok;if(ok)n++;});count.textContent=n+' of '+cards.length+' images shown';}
var m=/sort=([a-z]+)/.exec(location.hash);if(m&&sorts[m[1]])sortSel.value=m[1];
sortSel.onchange=show.onchange=text.oninput=apply;apply();})();"""


def controls() -> str:
    """Sort and filter controls (work only with the script; the cards show without it)."""
    sort = "".join(f'<option value="{k}">{esc(t)}</option>' for k, t in SORTS)
    show = "".join(f'<option value="{k}">{esc(t)}</option>' for k, t in SHOWS)
    return (
        '<div class="controls"><label>sort <select id="sort">'
        f"{sort}</select></label><label>show <select id='show'>{show}</select></label>"
        '<label>find <input id="filter" type="search" placeholder="file or patient"></label>'
        '<span id="count"></span></div>'
    )


def _detail(record: dict) -> str:
    rows = [
        [
            str(g + 1),
            esc(les["category"]),
            esc(les.get("lesion_type") or ""),
            esc(les.get("pathology") or ""),
            num(les["best_score"]),
            "found" if les["found"] else "<span class='bad'>missed</span>",
            num(les["dice"]),
        ]
        for g, les in enumerate(record["lesions"])
    ]
    lesions = (
        table(["#", "category", "type", "pathology", "best score", "at 1 FP/image", "Dice"], rows)
        if rows
        else "<p>no lesion (normal image)</p>"
    )
    marks = ", ".join(
        f"{num(m['score'], 2)} {'TP' if m['kind'] == 'tp' else 'FP'}" for m in record["marks"]
    )
    return (
        f"<details><summary>detail</summary>{lesions}"
        f"<p>marks at the operating point: {marks or 'none'}</p></details>"
    )


def card(
    record: dict,
    order: int,
    thumb: str | None,
    full: str | None,
    size: tuple[int, int] | None,
    problem: str | None = None,
) -> str:
    """One image's card; ``thumb``/``full`` are file names relative to the page (safe names)."""
    r = record
    data = {
        "order": order,
        "missed": r["n_missed"],
        "nfp": r["n_fp"],
        "fp": attr_num(r["max_fp_score"]),
        "dice": attr_num(r["worst_dice"]),
        "score": attr_num(r["max_score"]),
        "lesions": len(r["lesions"]),
    }
    attrs = " ".join(f'data-{k}="{esc(v)}"' for k, v in data.items())
    if thumb is not None and size is not None:
        picture = (
            f'<a href="{esc(full)}" target="_blank"><img src="{esc(thumb)}" loading="lazy" '
            f'width="{size[0]}" height="{size[1]}" alt="review overlay"></a>'
        )
    else:
        picture = f"<p class='bad'>image not shown: {esc(problem)}</p>"
    side = " ".join(esc(v) for v in (r.get("laterality"), r.get("view")) if v)
    who = f"patient {esc(r['patient_id'])} " if r.get("patient_id") is not None else ""
    summary = (
        f"{len(r['lesions'])} lesion(s), <b>{r['n_missed']} missed</b>, {r['n_tp']} TP, "
        f"{r['n_fp']} FP" + (f" (best {num(r['max_fp_score'], 2)})" if r["n_fp"] else "")
        + (f", worst Dice {num(r['worst_dice'], 2)}" if r["worst_dice"] is not None else "")
    )  # fmt: skip
    return (
        f'<figure class="card" {attrs}>{picture}<figcaption>'
        f'<div class="name">{esc(r["file_name"])}</div>'
        f'<div class="small">{who}{side}</div><div class="small">{summary}</div>'
        f"{_detail(r)}</figcaption></figure>"
    )


def gallery(cards: Sequence[str]) -> str:
    return f'<div id="gallery" class="grid">{"".join(cards)}</div>'
