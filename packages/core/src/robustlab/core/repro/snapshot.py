"""``tables.json``: what the report renderer needs besides the runs' metrics.

The snapshot holds the paper's identity, the profile and its budget statement, the environment,
every table spec (cells with paper values, claims) and a short summary of each run. Reports are
re-rendered from it and ``_runs/*/metrics.json`` alone (``robustlab report RUNS_DIR``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustlab.core.repro.spec import Cell, Claim, Comparison, RunSpec, TableSpec, to_jsonable
from robustlab.core.repro.store import FORMAT, SNAPSHOT, read_json, spec_hash
from robustlab.core.utils import atomic_write_json


def table_to_dict(table: TableSpec) -> dict[str, Any]:
    """A JSON-able TableSpec."""
    return to_jsonable(table)


def table_from_dict(d: dict[str, Any]) -> TableSpec:
    """Inverse of :func:`table_to_dict`."""
    cells = tuple(Cell(**c) for c in d["cells"])
    claims = tuple(
        Claim(
            id=c["id"],
            text=c["text"],
            table=c["table"],
            comparisons=tuple(
                Comparison(tuple(k["lhs"]), k["op"], tuple(k["rhs"]), k.get("margin", 0.0))
                for k in c["comparisons"]
            ),
            mode=c.get("mode", "all"),
        )
        for c in d.get("claims", ())
    )
    return TableSpec(d["id"], d["title"], cells, claims, d.get("note", ""))


def run_summary(spec: RunSpec, runs: dict[str, RunSpec] | None = None) -> dict[str, Any]:
    """Dataset/model/method/budget of a run, for reports and the cross-paper comparison.

    ``runs`` (the profile's runs) is needed to hash a run with dependencies; such a run's
    summary lists them under ``needs`` (role -> run id).
    """
    last = spec.train[-1]
    suite = spec.suite
    suite_name = suite if isinstance(suite, str) or suite is None else getattr(suite, "name", "")
    return {
        "dataset": str(getattr(last, "dataset", "")),
        "eval_dataset": spec.dataset,
        "model": str(getattr(last, "model", "")),
        "method": str(getattr(last, "method", "")),
        "epochs": [getattr(c, "epochs", None) for c in spec.train],
        "suite": suite_name,
        "n_eval": spec.n_eval,
        "config_hash": spec_hash(spec, runs),
        **({"needs": dict(spec.needs)} if spec.needs else {}),
    }


def paper_identity(paper: Any) -> dict[str, str]:
    """name/title/authors/venue/url of a Paper (missing attributes -> "")."""
    return {
        k: str(getattr(paper, k, "") or "") for k in ("name", "title", "authors", "venue", "url")
    }


def write_snapshot(
    pdir: Path,
    paper: Any,
    profile: str,
    tables: list[TableSpec],
    runs: dict[str, RunSpec],
    environment: dict[str, Any],
) -> dict[str, Any]:
    """Write ``tables.json``, keeping tables of an earlier snapshot that this call did not select."""
    old = load_snapshot(pdir) if (pdir / SNAPSHOT).exists() else None
    old_tables = {t["id"]: t for t in (old or {}).get("tables", [])}
    old_runs = dict((old or {}).get("runs", {}))
    new_tables = {t.id: table_to_dict(t) for t in tables}
    order = [t.id for t in tables] + [i for i in old_tables if i not in new_tables]
    merged = {**old_tables, **new_tables}
    run_info = {**old_runs, **{rid: run_summary(spec, runs) for rid, spec in runs.items()}}
    used = {c["run"] for i in order for c in merged[i]["cells"]}
    todo = list(used)
    while todo:  # dependency runs of the used runs are part of the report (helper runs)
        for dep in run_info.get(todo.pop(), {}).get("needs", {}).values():
            if dep not in used:
                used.add(dep)
                todo.append(dep)
    for rid, info in run_info.items():
        if rid in used and not any(c["run"] == rid for i in order for c in merged[i]["cells"]):
            info["helper"] = True  # fills no cell: a substitute, teacher or guide
    doc = {
        "format": FORMAT,
        "paper": paper_identity(paper),
        "profile": profile,
        "profile_description": str(paper.describe_profile(profile)),
        "environment": environment,
        "tables": [merged[i] for i in order],
        "runs": {rid: info for rid, info in run_info.items() if rid in used},
    }
    atomic_write_json(pdir / SNAPSHOT, doc)
    return doc


def load_snapshot(pdir: Path) -> dict[str, Any]:
    """Read ``tables.json`` of a profile directory.

    Raises:
        FileNotFoundError: if there is none (not a reproduction's profile directory).
        ValueError: if it is unparsable or of an unknown format.
    """
    path = Path(pdir) / SNAPSHOT
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {pdir} is not a `robustlab reproduce` output")
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(
            f"{path}: unknown snapshot format; re-run `robustlab reproduce` to rewrite it"
        )
    return doc
