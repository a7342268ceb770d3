"""The demo's comparison with the simulated truth (udip_gwas/simulation/truth.py)."""

from __future__ import annotations

import pandas as pd


def test_format_summary__names_decoders_that_do_not_beat_the_mean_image():
    from udip_gwas.simulation.truth import format_summary

    per = pd.DataFrame([{"region": "Pallidum", "kind": "intensity", "recovered": True, "locus_id": "L1",
                         "lead_dimension": "T1_001", "lead_distance_kb": 0.0, "replication_status": "replicated",
                         "novelty": "known", "novelty_correct": True, "perdi_top_regions": "Pallidum"}])
    met = {"recovered_fraction": True, "loci_outside_planted": True, "novelty_correct_fraction": True,
           "perdi_top3_fraction": True}
    summary = {"recovered": 1, "planted": 1, "recovered_fraction": 1.0, "loci_outside_planted": 0, "loci": 1,
               "replicated_fraction": 1.0, "novelty_correct_fraction": 1.0, "perdi_top3_fraction": 1.0, "met": met,
               "decoder_beats_mean_image": {"T1": False, "T2": True}}
    text = format_summary(per, summary)
    line = [x for x in text.splitlines() if "mean image" in x]
    assert len(line) == 1 and line[0].rstrip().split(": ", 1)[1].startswith("T1 (")
    summary["decoder_beats_mean_image"] = {"T1": True, "T2": None}
    assert "mean image" not in format_summary(per, summary)


def test_compare_with_truth__recovery_window_outside_loci_novelty_and_perdi_top_regions():
    from udip_gwas.simulation.truth import compare_with_truth

    truth = pd.DataFrame({"region": ["Pallidum", "Caudate", "Thalamus"], "kind": ["intensity", "volume", "volume"],
                          "modality": ["T1", "both", "both"], "variant_id": ["1:1000000:A:G", "1:5000000:C:T",
                                                                            "2:300000:G:A"],
                          "known": [True, False, True], "chromosome": [1, 1, 2],
                          "base_pair_location": [1_000_000, 5_000_000, 300_000]})
    loci = pd.DataFrame({"locus_id": ["L1", "L2", "L3"], "chromosome": ["1", "1", "2"],
                         "lead_position": [1_250_000, 5_251_000, 900_000], "lead_dimension": ["T1_001", "T1_002",
                                                                                             "T1_003"],
                         "replication_status": ["replicated", "nominal", "replicated"],
                         "novelty": ["known", "known", "novel"]})
    rows = []
    for dim, ks, t in [("T1_001", {"Pallidum": 0.9, "Putamen": 0.5, "Caudate": 0.4, "Thalamus": 0.3},
                        {"Pallidum": 1.0, "Putamen": 2.0, "Caudate": 3.0, "Thalamus": 4.0})]:
        rows += [(dim, r, "bilateral", ks[r], t[r]) for r in ks]
    rows.append(("T1_001", "Thalamus", "left", 0.99, 9.0))  # lateralised rows do not count
    scores = pd.DataFrame(rows, columns=["dimension", "region", "hemisphere", "ks", "mean_abs_t"])
    per, summary = compare_with_truth(loci, truth, region_scores=scores, top_k=2)
    per = per.set_index("region")
    # 250 kb is the window: the pallidum's lead is 250 kb away (recovered), the caudate's 251 kb (not)
    assert per.loc["Pallidum", "recovered"] and not per.loc["Caudate", "recovered"]
    assert not per.loc["Thalamus", "recovered"]
    assert summary["recovered"] == 1 and summary["loci_outside_planted"] == 2
    assert summary["outside_loci_ids"] == ["L2", "L3"] and not summary["met"]["loci_outside_planted"]
    assert per.loc["Pallidum", "lead_distance_kb"] == 250 and per.loc["Pallidum", "novelty_correct"]
    assert per.loc["Pallidum", "perdi_top_regions"] == "Pallidum,Putamen"
    assert summary["perdi_top3_fraction"] == 1.0 and summary["perdi_top3_fraction_mean_abs_t"] == 0.0
    assert summary["replicated_fraction"] == 1.0 and summary["novelty_correct_fraction"] == 1.0


def test_compare_with_truth__per_test_counts_weak_effects_and_joint_lambda():
    from udip_gwas.simulation.truth import compare_with_truth, format_summary

    truth = pd.DataFrame({"chromosome": [1, 2, 3], "base_pair_location": [1_000_000, 2_000_000, 3_000_000],
                          "variant_id": ["1:1000000:A:G", "2:2000000:A:G", "3:3000000:A:G"],
                          "region": ["Thalamus", "Amygdala", "Brain-Stem"], "kind": ["volume", "volume", "intensity"],
                          "modality": "both", "known": [True, False, False], "weak": [False, True, True]})
    loci = pd.DataFrame({"locus_id": ["L001", "L002"], "chromosome": ["1", "2"],
                         "lead_position": [1_000_100, 2_000_000],
                         "lead_dimension": ["T1_001", "T1_002"], "test": ["per_dimension+joint", "joint"],
                         "novelty": ["known", "novel"], "replication_status": ["replicated", "replicated"]})
    lam = pd.DataFrame({"set": ["T1", "all"], "df1": [128, 256], "df2": [2000, 1800], "lambda_gc": [1.01, 1.07]})
    per, summary = compare_with_truth(loci, truth, joint_lambda=lam)
    assert summary["planted"] == 1 and summary["recovered"] == 1 and summary["weak_planted"] == 2
    assert summary["per_test"] == {"per_dimension": {"strong": 1, "weak": 0}, "joint": {"strong": 1, "weak": 1}}
    assert summary["joint_recovers_per_dimension"] and summary["weak_found_by_joint"] == 1
    assert summary["met"]["weak_found_by_joint"] is False            # target: 2
    assert summary["met"]["joint_lambda_gc"] is False                 # 1.07 is outside 0.95-1.05
    text = format_summary(per, summary)
    assert "weak effects found by the joint test: 1" in text and "all 1.070" in text
    assert "Amygdala (weak)" in text and "[joint]" in text
