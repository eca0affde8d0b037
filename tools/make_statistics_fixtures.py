#!/usr/bin/env python3
"""Writes Tests/Fixtures/statistics/statistics.json: per-pair layer values of a small folder (seeded) and the folder
statistics recomputed from them with numpy alone, for AnalysisStatisticsFixtureTests.

Needs numpy only. Run from the repository root: python3 tools/make_statistics_fixtures.py (same bytes every time).

The folder: 12 pairs and 3 layers of different sizes. Pair p05 has identical images (no difference at any layer),
p09 no difference at the middle layer only; p03 and p07 have the same lesion area, p10 the same enrichment as p02
at the first layer (ties for the rank correlation). A pair's enrichment falls with its lesion's area, as on real
data. What is recomputed, per layer, each metric over the pairs where it is defined (a share of no difference,
0/0, is undefined and left out, never averaged):
  - n, mean, std (ddof 0), median, 25th and 75th percentiles (numpy.percentile, linear);
  - the percentile bootstrap 95 % CI of the mean: resamples drawn as vae-dist draws them (SplitMix64 from the
    seed, resample r's indices = next() % n in order), one draw set per number n of pairs defined;
  - pooled enrichment = (sum inside / sum energy) / (sum area / n) over the pairs with energy > 0, with its CI
    from the same draws;
  - Spearman's rho of the pairs' enrichment with their lesion area, average ranks for ties (None below 3 pairs).
"""
import json
import os

import numpy as np

SEED = 24
RESAMPLES = 400
BOOTSTRAP_SEED = 7
LAYERS = [("decoder.conv_in", [1, 4, 8, 8]), ("decoder.up.1.block.0", [1, 8, 16, 16]), ("decoder.conv_out", [1, 3, 32, 32])]
METRICS = ["l2_value", "l2_per_element", "cosine_value", "lesion_energy_fraction", "lesion_enrichment",
           "energy_per_area_inside", "energy_per_area_outside"]
MASK64 = (1 << 64) - 1


def make_pairs():
    rng = np.random.default_rng(SEED)
    pairs = []
    for p in range(12):
        # Lesion pixels out of 32x32, the same share at every layer (area averaging keeps it).
        area = float(rng.integers(12, 260)) / 1024
        pairs.append({"name": f"p{p:02d}", "area": area, "layers": []})
    pairs[7]["area"] = pairs[3]["area"]
    for pair in pairs:
        for index, (name, shape) in enumerate(LAYERS):
            energy = float(rng.lognormal(mean=2.0 + index, sigma=0.6))
            # Denser in small lesions: the share inside grows slower than the area.
            share = min(0.95, float(pair["area"] ** 0.5 * rng.uniform(0.4, 0.9)))
            l2 = energy ** 0.5
            pair["layers"].append({"layer": name, "shape": shape, "l2": l2, "cosine": float(rng.uniform(0.001, 0.3)),
                                   "inside": share * l2 * l2, "area_fraction": pair["area"]})
    for layer in pairs[5]["layers"]:
        layer.update(l2=0.0, cosine=0.0, inside=0.0)
    pairs[9]["layers"][1].update(l2=0.0, cosine=0.0, inside=0.0)
    # p10's first layer: p02's area and shares, so the same enrichment.
    pairs[10]["area"] = pairs[2]["area"]
    for a, b in zip(pairs[10]["layers"], pairs[2]["layers"]):
        a["area_fraction"] = b["area_fraction"]
    first, model = pairs[10]["layers"][0], pairs[2]["layers"][0]
    first.update(l2=model["l2"], inside=model["inside"])
    for pair in pairs:
        del pair["area"]
    return pairs


def value(layer, metric):
    """The metric as vae-dist defines it, None where undefined (no difference: a share of 0/0)."""
    l2, inside, area = layer["l2"], layer["inside"], layer["area_fraction"]
    energy, pixels = l2 * l2, float(layer["shape"][2] * layer["shape"][3])
    numel = float(np.prod(layer["shape"]))
    if metric == "l2_value":
        return l2
    if metric == "l2_per_element":
        return l2 / numel ** 0.5
    if metric == "cosine_value":
        return layer["cosine"]
    if metric == "lesion_energy_fraction":
        return None if energy == 0 else inside / energy
    if metric == "lesion_enrichment":
        return None if energy == 0 else inside / energy / area
    if metric == "energy_per_area_inside":
        return inside / (area * pixels)
    if metric == "energy_per_area_outside":
        return (energy - inside) / ((1 - area) * pixels)
    raise ValueError(metric)


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def draws(n):
    """vae-dist's PairBootstrap(pairs: n, resamples: RESAMPLES, seed: BOOTSTRAP_SEED) indices."""
    state, out = BOOTSTRAP_SEED, []
    for _ in range(RESAMPLES):
        row = []
        for _ in range(n):
            state, z = splitmix64(state)
            row.append(z % n)
        out.append(row)
    return out


def interval(statistic, n):
    values = np.array([statistic(sample) for sample in draws(n)])
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def summary(values):
    a = np.array(values)
    low, high = interval(lambda s: float(np.mean(a[s])), len(a))
    return {"n": len(a), "mean": float(np.mean(a)), "std": float(np.std(a)), "median": float(np.median(a)),
            "q1": float(np.percentile(a, 25)), "q3": float(np.percentile(a, 75)), "ci95_low": low, "ci95_high": high}


def pooled(terms):
    inside, energy, area = (np.array([t[k] for t in terms]) for k in range(3))
    return float(inside.sum() / energy.sum() / (area.sum() / len(terms)))


def average_ranks(a):
    a = np.asarray(a)
    ranks = np.empty(len(a))
    ranks[np.argsort(a, kind="stable")] = np.arange(1, len(a) + 1)
    for v in np.unique(a):
        ranks[a == v] = ranks[a == v].mean()
    return ranks


def spearman(x, y):
    if len(x) < 3:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    if np.all(rx == rx[0]) or np.all(ry == ry[0]):
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def expected(pairs):
    layers = {}
    for index, (name, _) in enumerate(LAYERS):
        at = [pair["layers"][index] for pair in pairs]
        entry = {"metrics": {}}
        for metric in METRICS:
            defined = [v for v in (value(layer, metric) for layer in at) if v is not None]
            entry["metrics"][metric] = summary(defined) if defined else None
        terms = [(l["inside"], l["l2"] * l["l2"], l["area_fraction"]) for l in at if l["l2"] * l["l2"] > 0]
        low, high = interval(lambda s: pooled([terms[i] for i in s]), len(terms))
        entry["pooled_enrichment"] = {"value": pooled(terms), "ci95_low": low, "ci95_high": high, "n": len(terms)}
        ranked = [(value(l, "lesion_enrichment"), l["area_fraction"]) for l in at if value(l, "lesion_enrichment") is not None]
        entry["spearman_enrichment_area"] = {"value": spearman([r[0] for r in ranked], [r[1] for r in ranked]),
                                             "n": len(ranked)}
        layers[name] = entry
    left_out = []
    for pair in pairs:
        energies = [l["l2"] * l["l2"] for l in pair["layers"]]
        silent = [l["layer"] for l, e in zip(pair["layers"], energies) if e == 0]
        if silent:
            identical = len(silent) == len(LAYERS)
            left_out.append({"pair": pair["name"], "metrics": ["lesion_energy_fraction", "lesion_enrichment"],
                             "layers": silent, "every_layer": identical,
                             "reason": "identical images (no difference at any layer)" if identical
                             else "no difference at this layer"})
    return {"layers": layers, "left_out": left_out}


def main():
    pairs = make_pairs()
    fixture = {"about": "written by tools/make_statistics_fixtures.py; inputs are per-pair layer values, expected is "
                        "numpy's recomputation of the folder statistics",
               "resamples": RESAMPLES, "bootstrap_seed": BOOTSTRAP_SEED, "pairs": pairs, "expected": expected(pairs)}
    out = os.path.join("Tests", "Fixtures", "statistics", "statistics.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
