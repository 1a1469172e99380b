"""The published tables, the table/claim specs of every profile, and a smoke reproduction."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import pytest

from robustlab.core.plugins import get_paper
from robustlab.core.report import render_report
from robustlab.core.repro import Preset, check_paper
from robustlab.ctr import defaults, tables
from robustlab.ctr.paper import PAPER, CTRPaper

SHARED_CSV = Path("/work/shared/tables/ctr.csv")
CSV = "data/ctr.csv"


def test_published_csv_loads_all_cells() -> None:
    cells = PAPER.published
    assert len(cells) == 1251
    assert {c.table for c in cells} == {str(i) for i in range(1, 10)}
    by_ref = {c.ref: c for c in cells}
    assert by_ref[("1", "MDL (ours)", "MNISTNet/Cyclic/FM")].value == 93.53
    assert by_ref[("4", "MDL (ours)", "FMNIST")].value == 89028
    assert by_ref[("6", "Madry-AT w/ CTR gamma=3 epochs=50", "Multistep/PGD")].value == 56.33


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="shared transcription not on this machine")
def test_package_data_is_a_verbatim_copy_of_the_transcription() -> None:
    shipped = resources.files("robustlab.ctr").joinpath(CSV).read_bytes()
    assert shipped == SHARED_CSV.read_bytes()


def _csv_values() -> dict[tuple[str, str, str], str]:
    text = resources.files("robustlab.ctr").joinpath(CSV).read_text(encoding="utf-8")
    return {
        (r["table"], r["row"], r["column"]): r["value"] for r in csv.DictReader(text.splitlines())
    }


@pytest.mark.parametrize("profile", ["quick", "fmnist", "paper"])
def test_every_table_and_claim_references_existing_cells(profile: str) -> None:
    specs, runs = check_paper(PAPER, profile)  # cells -> known runs, claims -> known cells
    raw = _csv_values()
    ids = {t.id for t in specs}
    assert {"1", "3", "4", "6", "7"} <= ids
    for table in specs:
        assert table.title
        for cell in table.cells:
            if cell.ref in raw:  # a printed cell: value straight from the CSV
                assert cell.paper_value == pytest.approx(float(raw[cell.ref]))
            else:  # an added cell (figure panel, extra seed): no printed value
                assert cell.paper_value is None
                assert table.id.startswith("fig") or "seed=" in cell.column
    claims = [c for t in specs for c in t.claims]
    assert claims
    assert len({c.id for c in claims}) == len(claims)
    assert all(run.id == key for key, run in runs.items())


@pytest.mark.parametrize("profile", ["quick", "fmnist", "paper"])
def test_every_attack_of_every_run_can_be_built(profile: str) -> None:
    from robustlab.core.eval import AttackSpec, Suite

    seen = set()
    for spec in PAPER.runs(profile).values():
        specs = list(spec.suite.attacks) if isinstance(spec.suite, Suite) else []
        for _, kw in spec.analyses:
            specs += [AttackSpec.from_dict(a) for a in kw.get("attacks", [])]
        for a in specs:
            key = (a.name, repr(sorted(a.kwargs.items())))
            if key not in seen:
                seen.add(key)
                assert callable(a.build()), a.label
    assert seen


def test_paper_profile_covers_every_printed_cell_but_time_and_rank() -> None:
    specs, _ = check_paper(PAPER, "paper")
    ours = {c.ref for t in specs for c in t.cells}
    missing = [
        ref
        for ref in _csv_values()
        if ref not in ours and not ref[2].endswith("Time") and ref[2] != "Avg. rank"
    ]
    assert missing == []


def test_claims_hold_on_the_printed_values() -> None:
    from robustlab.core.repro import evaluate_claim

    specs, _ = check_paper(PAPER, "fmnist")
    values = {c.ref: c.paper_value for t in specs for c in t.cells}
    checked = 0
    for table in specs:
        if table.id not in ("1", "2", "3", "4", "7"):
            continue
        for claim in table.claims:
            result = evaluate_claim(claim, values, values)
            # claims over added cells (extra seeds) have no printed values to check
            assert result.paper_verdict != "fails", claim.id
            checked += 1
    assert checked >= 5


def test_entry_point_finds_the_paper() -> None:
    assert get_paper("ctr").name == "ctr"


def test_at_rows_parse_and_dash_epochs_are_inferred() -> None:
    assert tables.parse_at_row("TRADES w/ CTR beta=6 gamma=1") == ("trades", 1.0, 6.0, "200")
    assert tables.parse_at_row("Fast-AT w.o. CTR gamma=0 epochs=40") == ("fast-at", 0.0, 0.0, "40")
    idx = {c.ref: c for c in PAPER.published}
    assert tables.paper_epochs("fast-at", 0.0, "40/50", "multistep", idx) == 40
    assert tables.paper_epochs("fast-at", 0.0, "40/50", "cyclic", idx) == 50
    # Madry-AT gamma=3, Multistep: 251.3 min vs 179.5 min for 50 epochs -> 70 epochs
    assert tables.paper_epochs("madry-at", 3.0, "-", "multistep", idx) == 70
    with pytest.raises(ValueError, match="not an adversarial-training row"):
        tables.parse_at_row("MDL (ours)")


def test_presets_build_valid_configs_and_state_their_command() -> None:
    assert isinstance(defaults.MDL_FMNIST_CYCLIC, Preset)
    cfg = defaults.MDL_FMNIST_CYCLIC.train_config()
    assert (cfg.method, cfg.method_opts, cfg.epochs, cfg.lr) == ("ctr/mdl", {"eta": 90.0}, 50, 0.01)
    assert defaults.MDL_FMNIST_CYCLIC.doc.startswith("robustlab reproduce ctr --profile fmnist")
    at = defaults.QUICK_MADRY_CTR.train_config()
    assert at.method == "ctr/madry-at" and at.method_opts["gamma"] == 2.0
    assert defaults.QUICK_MADRY.train_config().method == "madry-at"
    ms = defaults.adversarial_preset("madry-at", schedule="multistep", model="lenet5", lr=0.05)
    assert ms.warmup == defaults.WARMUP == "ctr/eq29"
    assert ms.schedule_opts["milestones"] == [2 / 3, 5 / 6]
    with pytest.raises(ValueError, match="profile"):
        PAPER.tables("laptop")
    assert "QUICK PROFILE" in PAPER.describe_profile("quick")


def test_every_lr_is_visible_in_the_presets() -> None:
    """No hidden factor: the analogs' AT lr is the written-out table, the paper's is AT_LR."""
    for name in ("quick", "fmnist"):
        assert PAPER.profile(name).at_lr == defaults.AT_LR_LENET5
        for spec in PAPER.runs(name).values():
            c = spec.train[0]
            if spec.id.startswith("at-"):
                base = c.method.removeprefix("ctr/")
                assert c.lr == defaults.AT_LR_LENET5[(base, c.schedule)]
    assert PAPER.profile("paper").at_lr == defaults.AT_LR
    for key, lr in defaults.AT_LR.items():
        assert defaults.AT_LR_LENET5[key] == pytest.approx(lr / 4)


def test_named_quick_presets_are_what_the_quick_profile_runs() -> None:
    configs = {spec.train[0].to_dict().__repr__() for spec in PAPER.runs("quick").values()}
    for preset in (defaults.QUICK_MDL, defaults.QUICK_MADRY, defaults.QUICK_MADRY_CTR):
        assert repr(preset.train_config().to_dict()) in configs, preset.doc


SMOKE = defaults.PROFILES["quick"].replace(
    nt_epochs=1,
    nt_n_train=256,
    nt_n_test=200,
    curve_eps=(2 / 255, 8 / 255),
    curve_n=64,
    curve_pgd_steps=2,
    at_epoch_scale=0.02,
    at_n_train=128,
    at_eval_n=64,
    aa_n=32,
    t7_n=32,
    t7_pgd_steps=2,
)


class SmokePaper(CTRPaper):
    """The quick profile's tables on a data slice (one epoch, a few hundred images)."""

    profiles = {**defaults.PROFILES, "quick": SMOKE}  # noqa: RUF012


def test_smoke_reproduction(tmp_path: Path) -> None:
    """Every quick table on a slice, AutoAttack included (about a minute on a quiet machine)."""
    from robustlab.core.repro.runner import reproduce

    report = reproduce(
        SmokePaper(),
        profile="quick",
        device="cpu",
        runs_dir=tmp_path,
        progress=False,
        render=render_report,
    )
    text = (tmp_path / "ctr" / "quick" / "report.md").read_text()
    assert "QUICK PROFILE" in text
    cells = [c for t in report.tables for c in t.cells]
    missing = [c.cell.ref for c in cells if c.ours is None]
    assert cells and missing == []
    verdicts = {r.claim.id: r.verdict for r in report.claims}
    assert "t7-std-beats-ce-nt" in verdicts and "not measured" not in verdicts.values()
    aa = {r.claim.id: r.aa_verdict for r in report.claims if r.claim.table == "6"}
    assert aa["t6-madry-at-g2-clean-cyclic"] is None  # a clean-accuracy claim: no AA verdict
    assert aa["t6-madry-at-ctr-cyclic-pgd"] in ("holds", "fails", "inconclusive")
    assert "Under AutoAttack" in text


@pytest.mark.parametrize("profile", ["fmnist", "paper"])
def test_table_3_is_a_three_seed_mean(profile: str) -> None:
    """The paper prints Table 3 as a mean over three seeds: the cells use a seeded run."""
    runs = PAPER.runs(profile)
    (table,) = [t for t in PAPER.tables(profile) if t.id == "3"]
    assert table.cells
    for cell in table.cells:
        assert runs[cell.run].seeds == (0, 1, 2), cell.ref
        assert "seed=" not in cell.column


def test_quick_table_3_is_one_seed() -> None:
    runs = PAPER.runs("quick")
    assert all(not runs[c.run].seeds for t in PAPER.tables("quick") if t.id == "3" for c in t.cells)
