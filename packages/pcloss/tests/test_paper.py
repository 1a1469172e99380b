"""Published tables, cell mapping, claims and profiles of the PC-loss paper."""

from __future__ import annotations

import csv
from importlib.resources import files

import pytest

from robustlab.core.repro import check_paper, evaluate_claim, need_ref
from robustlab.core.repro.published import published_index
from robustlab.pcloss.defaults import PROFILES, QUICK
from robustlab.pcloss.paper import PAPER
from robustlab.pcloss.studies import STUDY_TITLES
from robustlab.pcloss.tables import is_added_row, label_for

INDEX = {ref: cell.value for ref, cell in published_index(list(PAPER.published)).items()}
# The paper's own numbers contradict this claim ("our method alone outperforms the fast
# adversarial training on gray-scale datasets"): KMNIST PGD eps=0.3, Ours 33.2 < CE+AT 37.2.
FAILS_ON_PAPER_VALUES = {"t5-kmnist-ours-gt-cepat", "t5-kmnist-ours-gt-cepat+margin"}


def test_published_cells_load_from_package_data() -> None:
    cells = PAPER.published
    assert len(cells) == 406
    counts = {t: sum(c.table == t for c in cells) for t in "12345"}
    assert counts == {"1": 140, "2": 78, "3": 70, "4": 48, "5": 70}
    assert INDEX[("1", "PGD eps=0.1", "FMNIST/Ours")] == 15.7
    assert INDEX[("1", "PGD eps=0.1", "FMNIST/CE")] == 0.0
    assert INDEX[("1", "Clean", "FMNIST/Ours")] == 90.2
    assert INDEX[("4", "Clean", "CIFAR-100/CE")] == 40.2
    assert INDEX[("5", "SPSA eps=0.3", "FMNIST/Ours+AT")] == 41.6
    assert INDEX[("2", "C&W conf=0.0", "MNIST/GCE*")] == 25.6


def test_shipped_csv_rows_match_loaded_cells() -> None:
    text = (files("robustlab.pcloss") / "data" / "pcloss.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 406
    for row in rows:
        assert INDEX[(row["table"], row["row"], row["column"])] == float(row["value"])


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_cells_reference_existing_csv_cells(profile: str) -> None:
    tables, runs = check_paper(PAPER, profile)  # every cell's run exists, claims name cells
    for table in tables:
        for cell in table.cells:
            if cell.ref in INDEX:
                assert cell.paper_value == INDEX[cell.ref]
                assert (
                    cell.metric == "clean_acc"
                    if cell.row == "Clean"
                    else cell.metric.startswith("acc/")
                )
            else:  # only robustlab's added rows and study tables lack a paper value
                assert cell.paper_value is None
                assert is_added_row(cell.row) or table.id in STUDY_TITLES, cell.ref
            if cell.metric.startswith("acc/"):
                labels = [a.label for a in runs[cell.run].suite.attacks]
                assert cell.metric.removeprefix("acc/") in labels


def test_paper_profile_covers_every_printed_cell() -> None:
    refs = {c.ref for t in PAPER.tables("paper") for c in t.cells}
    assert set(INDEX) <= refs


def test_quick_profile_is_table1_fmnist_and_the_studies() -> None:
    tables = PAPER.tables("quick")
    assert [t.id for t in tables] == ["1", "A", "F2", "G"]
    printed = [c for c in tables[0].cells if c.paper_value is not None]
    assert {c.column for c in printed} == {"FMNIST/CE", "FMNIST/Ours"}
    assert len(printed) == 28
    runs = PAPER.runs("quick")
    assert sorted(runs) == ["fmnist-lenet5-ce", "fmnist-lenet5-pc", "fmnist-lenet5-pc-lam0"]
    assert all(r.n_eval == 1000 and r.autoattack_n == 300 for r in runs.values())
    assert [(p.method, p.epochs) for p in runs["fmnist-lenet5-pc"].train] == [
        ("natural", 5),
        ("pcloss/pc", 5),
    ]  # T = 5: at T = 2 both models sit near 0 % under PGD-40
    lam0 = runs["fmnist-lenet5-pc-lam0"].train
    assert lam0[1].method == "pcloss/pc" and lam0[1].method_opts["lam"] == 0.0
    assert lam0[0] == runs["fmnist-lenet5-pc"].train[0]  # same CE warm-up
    analyses = {r: dict(s.analyses) for r, s in runs.items()}
    assert "pcloss/adv-rank" in analyses["fmnist-lenet5-ce"]
    assert "pcloss/prob-gap" in analyses["fmnist-lenet5-pc-lam0"]
    assert "quick profile" in PAPER.describe_profile("quick")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_claims_hold_on_the_papers_own_numbers(profile: str) -> None:
    failing = set()
    for table in PAPER.tables(profile):
        assert table.claims, f"table {table.id} has no claims"
        for claim in table.claims:
            result = evaluate_claim(claim, INDEX, INDEX)
            if result.paper_verdict == "fails":
                failing.add(claim.id)
            if claim.id.endswith("+margin"):  # added cells: no paper value
                assert any(is_added_row(c.lhs[1]) for c in claim.comparisons)
    assert failing <= FAILS_ON_PAPER_VALUES


def test_whitebox_claims_come_with_margin_twins() -> None:
    claims = {c.id: c for t in PAPER.tables("quick") for c in t.claims}
    base, twin = claims["t1-fmnist-ours-gt-ce"], claims["t1-fmnist-ours-gt-ce+margin"]
    assert len(base.comparisons) == 13  # 4 attacks x 3 eps + C&W
    assert len(twin.comparisons) == 13 + 6  # + CW-Linf and APGD-DLR at 3 eps
    assert set(base.comparisons) < set(twin.comparisons)
    assert not any(cid.endswith("/margin-only") for cid in claims)  # replaced by the AA verdict


def test_pc_run_is_ce_warmup_then_pc_with_paper_recipe() -> None:
    runs = PAPER.runs("fmnist")
    ce, pc = runs["fmnist-lenet5-ce"], runs["fmnist-lenet5-pc"]
    assert [(p.method, p.epochs) for p in ce.train] == [("natural", 100)]
    assert [(p.method, p.epochs) for p in pc.train] == [("natural", 50), ("pcloss/pc", 50)]
    assert pc.train[1].method_opts == {
        "xi": 0.995,
        "lam": 0.05,
        "reduction": "mean",
        "constraint": "soft",
    }
    for phase in (*ce.train, *pc.train):
        assert (phase.optimizer, phase.lr, phase.batch_size) == ("adam", 0.01, 256)
        assert phase.dataset == "fashion-mnist" and phase.model == "lenet5"
    at = runs["fmnist-lenet5-pc-at"]
    assert [p.method for p in at.train] == ["pcloss/ce-at", "pcloss/pc-at"]
    assert at.train[1].method_opts["eps_range"] == (0.1, 0.3)
    transfer = {a.label: a for a in runs["fmnist-lenet5-pc"].suite.attacks}["transfer PGD eps=0.1"]
    assert transfer.attack == "pcloss/transfer" and transfer.kind == "black-box"
    assert transfer.kwargs["source_run"] == need_ref("substitute")
    sub = runs[runs["fmnist-lenet5-pc"].needs["substitute"]]  # a dependency run: CE-trained cnn3
    assert sub.id == "fmnist-cnn3-ce" and sub.suite is None
    assert [(p.model, p.method, p.epochs) for p in sub.train] == [("cnn3", "natural", 100)]
    assert runs["fmnist-lenet5-ce"].needs == {"substitute": "fmnist-cnn3-ce"}  # shared
    assert not runs["fmnist-lenet5-pc-at"].needs  # Table 5 has no transfer rows


def test_color_runs_use_notebook_schedule_and_pgd_at() -> None:
    runs = PAPER.runs("paper")
    phase = runs["cifar-10-vgg13-pc"].train[1]
    assert phase.epochs == 150 and phase.schedule == "multistep"
    assert phase.schedule_opts == {"milestones": [50, 100], "gamma": 0.2}
    at = runs["cifar-10-vgg13-pc-at"].train[1].method_opts
    assert (at["attack"], at["eps_range"], at["steps"]) == ("pgd", (0.0, 0.1), 5)
    assert runs["tiny-imagenet-vgg13-pc"].train[0].model_opts == {"image_size": 64}
    assert "cifar-10-resnet56-gce" in runs  # Table 2 GCE on ResNet-56


def test_labels_per_table() -> None:
    assert label_for("1", "PGD eps=0.1") == "PGD eps=0.1"
    assert label_for("3", "PGD eps=0.1") == "transfer PGD eps=0.1"
    assert label_for("3", "SPSA eps=0.3") == "SPSA eps=0.3"
    assert label_for("2", "C&W conf=0.0") == "C&W conf=0.0 (1000 it)"
    with pytest.raises(ValueError, match="not an attack row"):
        label_for("1", "Clean")


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="profile must be one of"):
        PAPER.tables("full")


def test_quick_profile_keeps_paper_attack_budgets() -> None:
    assert QUICK.attacks.step == 0.01
    assert (QUICK.attacks.bim_steps, QUICK.attacks.pgd_steps, QUICK.attacks.mim_steps) == (
        10,
        40,
        40,
    )
    # C&W: advertorch's lr 0.01 (the printed 0.001 cannot break a CE model in 100 steps), one c
    assert (QUICK.attacks.cw_steps, QUICK.attacks.cw_lr) == (1000, 0.01)
    assert (QUICK.attacks.cw_search_steps, QUICK.attacks.cw_c) == (1, 10.0)


def test_every_preset_states_its_command_and_expected_values() -> None:
    from robustlab.pcloss.defaults import FMNIST
    from robustlab.pcloss.defaults import PAPER as PAPER_PROFILE
    from robustlab.pcloss.tables import describe_preset, presets

    pub = PAPER.published
    fm = presets(FMNIST, pub)
    assert sorted(fm) == sorted(PAPER.runs("fmnist"))
    pc = fm["fmnist-lenet5-pc"]
    assert [p.train_config() for p in pc] == list(PAPER.runs("fmnist")["fmnist-lenet5-pc"].train)
    assert pc[0].command == "robustlab reproduce pcloss --profile fmnist --tables 1,3,5,A,F2,G"
    assert "T1 FMNIST/Ours: Clean 90.2" in pc[0].expected and "PGD eps=0.1 15.7" in pc[0].expected
    assert fm["fmnist-cnn3-ce"][0].expected == "a black-box substitute"  # a dependency run
    for run_id in presets(PAPER_PROFILE, pub):
        if not run_id.endswith(("cnn3-ce", "svhn-resnet56-ce", "-pc-lam0")):  # no printed value
            assert "expected (paper):" in describe_preset(run_id, PAPER_PROFILE, pub)
    with pytest.raises(KeyError, match="no preset"):
        describe_preset("mnist-lenet5-pc", FMNIST, pub)
