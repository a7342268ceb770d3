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


def test_compare_with_truth__locus_maps_per_view_in_the_lead_modality_and_their_correlation():
    from udip_gwas.simulation.truth import compare_with_truth, format_summary

    truth = pd.DataFrame({"region": ["Pallidum", "Caudate"], "kind": ["intensity", "volume"],
                          "modality": ["T1", "both"],
                          "variant_id": ["1:1000000:A:G", "2:300000:G:A"], "known": [True, False],
                          "chromosome": [1, 2], "base_pair_location": [1_000_000, 300_000]})
    loci = pd.DataFrame({"locus_id": ["L1", "L2"], "chromosome": ["1", "2"], "lead_position": [1_000_000, 300_000],
                         "lead_dimension": ["T1_001", "T2_004"]})
    ks = {("L1", "T1", "decoder"): ["Pallidum", "Putamen", "Thalamus"],
          ("L1", "T1", "direct"): ["Putamen", "Thalamus", "Pallidum"],
          ("L1", "T2", "decoder"): ["Thalamus", "Putamen", "Pallidum"],   # not the lead's modality: not read
          ("L2", "T2", "decoder"): ["Thalamus", "Putamen", "Caudate"],
          ("L2", "T2", "direct"): ["Caudate", "Thalamus", "Putamen"]}
    # the target's score (rim mean |t|) ranks as given; KS ranks the L2 decoder view's caudate first
    rows = [(lid, m, view, region, "bilateral", 1.0 - 0.1 * i, 1.0, 3.0 - i) for (lid, m, view), order in ks.items()
            for i, region in enumerate(order)]
    rows.append(("L2", "T2", "decoder", "Caudate", "left", 0.99, 1.0, 9.0))  # lateralised rows do not count
    scores = pd.DataFrame(rows, columns=["locus_id", "modality", "view", "region", "hemisphere", "ks", "mean_abs_t",
                                         "rim_mean_abs_t"])
    scores.loc[(scores["locus_id"] == "L2") & (scores["view"] == "decoder") & (scores["region"] == "Caudate")
               & (scores["hemisphere"] == "bilateral"), "ks"] = 2.0
    views = pd.DataFrame({"locus_id": ["L1", "L1", "L2"], "modality": ["T1", "T2", "T2"],
                          "spatial_correlation": [0.8, 0.1, 0.6]})
    per, summary = compare_with_truth(loci, truth, locus_scores=scores, locus_views=views, top_k=2)
    per = per.set_index("region")
    assert per.loc["Pallidum", "locus_decoder_in_top"] and not per.loc["Pallidum", "locus_direct_in_top"]
    assert per.loc["Pallidum", "locus_direct_rank"] == 3 and per.loc["Caudate", "locus_decoder_rank"] == 3
    assert per.loc["Caudate", "locus_direct_top_regions"] == "Caudate,Thalamus"
    assert summary["locus_decoder_top3"] == 1 and summary["locus_direct_top3"] == 1
    assert summary["locus_decoder_top3_ks"] == 2 and per.loc["Caudate", "locus_decoder_rank_ks"] == 1
    assert summary["view_correlation"] == {"Pallidum": 0.8, "Caudate": 0.6}
    text = format_summary(per.reset_index().assign(replication_status="replicated", novelty="known",
                                                   novelty_correct=True, lead_distance_kb=0.0),
                          {**summary, "perdi_top3_fraction": float("nan"), "met": {**summary["met"],
                                                                                   "perdi_top3_fraction": False}})
    assert ("locus maps (direct, each lead's dosage against the images), planted structure in the top 3 by mean |t| "
            "with a one-voxel rim: 1 of 2") in text and "by KS 1 of 2" in text
    assert "spatial correlation: Pallidum 0.80, Caudate 0.60" in text
