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

Also writes Tests/Fixtures/statistics/groups.json, for GroupStatisticsTests: the same pairs in groups, compared
as vae-dist compares them (GroupStatistics), recomputed with plain Python floats summed in vae-dist's order:
  - case "two_groups": groups a (p00-p05) and b (p06-p11, their differences scaled by 1.8: the l2 metrics differ,
    the lesion shares do not), pairs resampled; case "three_clusters": groups a, b, c
    of four pairs each, the bootstrap and permutations over clusters of two pairs (p00+p01, p02+p03, ...);
  - per group and for the whole folder (with clusters), each metric's summary over the defined pairs, its CI a
    percentile bootstrap whose units are the clusters (or pairs) of the defined values in order of their first
    pair, resample r drawing next() % units per unit; a resample's mean is (sum of the drawn units' sums) / (sum
    of their counts); the pooled enrichment's CI from the same draws over its pairs' units;
  - every two groups (A before B by name), per metric and layer: mean(A) - mean(B) over the defined pairs; its
    CI from one SplitMix64 stream of the seed, resample r drawing A's units then B's; the two-sided permutation
    p-value of T(S) = sum_S sums / sum_S counts - (total - sum_S sums) / (count - sum_S counts) over the pooled
    units (A's then B's): every S of |A| units in itertools.combinations order when there are at most
    PERMUTATIONS of them (p = #{|T(S)| >= |T| - tol} / C), else PERMUTATIONS partial Fisher-Yates shuffles of
    range(N) from the identity (for i < |A|: j = i + next() % (N - i), swap), p = (1 + #) / (1 + PERMUTATIONS),
    tol = 1e-12 (|mean A| + |mean B|); Holm's adjustment per metric over every comparison and layer.
"""
import itertools
import json
import math
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


LEVEL = 0.9
PERMUTATIONS = 500
GROUP_CASES = {
    "two_groups": {"groups": ["a"] * 6 + ["b"] * 6, "clusters": None, "scale_b": 1.8},
    "three_clusters": {"groups": ["a"] * 4 + ["b"] * 4 + ["c"] * 4, "clusters": [f"c{p // 2}" for p in range(12)], "scale_b": 1.0},
}


def case_pairs(pairs, case):
    """The pairs with group b's differences scaled (l2 by scale_b, the energy inside by its square: the lesion
    shares stay), so that the l2 metrics differ between the groups and the shares do not."""
    out = json.loads(json.dumps(pairs))
    for pair, group in zip(out, case["groups"]):
        if group == "b":
            for layer in pair["layers"]:
                layer["l2"] *= case["scale_b"]
                layer["inside"] *= case["scale_b"] ** 2
    return out


def seq_sum(values):
    """Left to right, as vae-dist sums (Python's sum() of floats may compensate)."""
    total = 0.0
    for v in values:
        total += v
    return total


def unit_members(keys):
    order, units = {}, []
    for position, key in enumerate(keys):
        if key in order:
            units[order[key]].append(position)
        else:
            order[key] = len(units)
            units.append([position])
    return units


class Draws:
    """vae-dist's BootstrapDraws: the stream SplitMix64(seed), `units` draws per resample."""

    def __init__(self, seed, resamples, level):
        self.seed, self.resamples, self.level = seed, resamples, level

    def indices(self, n):
        state, out = self.seed, []
        for _ in range(self.resamples):
            row = []
            for _ in range(n):
                state, z = splitmix64(state)
                row.append(z % n)
            out.append(row)
        return out

    def interval(self, statistics):
        values = sorted(statistics)
        return (float(np.percentile(values, 50 * (1 - self.level))), float(np.percentile(values, 50 * (1 + self.level))))

    def units_of(self, positions, clusters):
        return unit_members([clusters[p] if clusters else p for p in positions])

    def summary(self, values, clusters):
        """values per pair (None: undefined); clusters per pair or None."""
        at = [i for i, v in enumerate(values) if v is not None]
        if not at:
            return None
        defined = [values[i] for i in at]
        units = self.units_of(at, clusters)
        sums = [seq_sum(defined[m] for m in unit) for unit in units]
        counts = [float(len(unit)) for unit in units]
        stats = []
        for row in self.indices(len(units)):
            s = c = 0.0
            for u in row:
                s += sums[u]
                c += counts[u]
            stats.append(s / c)
        low, high = self.interval(stats)
        n = len(defined)
        mean = seq_sum(defined) / n
        return {"n": n, "mean": mean, "ci_low": low, "ci_high": high}

    def pooled(self, layers, clusters):
        at = [i for i, l in enumerate(layers) if l["l2"] * l["l2"] > 0]
        terms = [(layers[i]["inside"], layers[i]["l2"] * layers[i]["l2"], layers[i]["area_fraction"]) for i in at]
        units = self.units_of(at, clusters)

        def value(sample):
            inside = energy = area = 0.0
            for t in sample:
                inside += t[0]
                energy += t[1]
                area += t[2]
            return inside / energy / (area / len(sample))
        stats = [value([terms[m] for u in row for m in units[u]]) for row in self.indices(len(units))]
        low, high = self.interval(stats)
        return {"value": value(terms), "ci_low": low, "ci_high": high, "n": len(terms)}


def compare(first, second, draws):
    """first, second: [(value, cluster)] of the defined pairs in pair order."""
    if not first or not second:
        return None
    units = []
    for sample in (first, second):
        members = unit_members([c for _, c in sample])
        units.append([(seq_sum(sample[m][0] for m in unit), float(len(unit))) for unit in members])
    a, b = units
    state, stats = draws.seed, []
    for _ in range(draws.resamples):
        sa = ca = sb = cb = 0.0
        for k in range(len(a)):
            state, z = splitmix64(state)
            u = a[z % len(a)]
            sa += u[0]
            ca += u[1]
        for k in range(len(b)):
            state, z = splitmix64(state)
            u = b[z % len(b)]
            sb += u[0]
            cb += u[1]
        stats.append(sa / ca - sb / cb)
    low, high = draws.interval(stats)
    pooled_units = a + b
    n, k = len(pooled_units), len(a)
    total = count = 0.0
    for u in pooled_units:
        total += u[0]
        count += u[1]

    def statistic(chosen):
        s = c = 0.0
        for i in chosen:
            s += pooled_units[i][0]
            c += pooled_units[i][1]
        ma, mb = s / c, (total - s) / (count - c)
        return ma - mb, abs(ma) + abs(mb)
    observed, scale = statistic(range(k))
    threshold = abs(observed) - 1e-12 * scale
    if math.comb(n, k) <= PERMUTATIONS:
        splits = [list(c) for c in itertools.combinations(range(n), k)]
        exact = True
    else:
        state, splits, exact = draws.seed, [], False
        for _ in range(PERMUTATIONS):
            order = list(range(n))
            for i in range(k):
                state, z = splitmix64(state)
                j = i + z % (n - i)
                order[i], order[j] = order[j], order[i]
            splits.append(order[:k])
    extreme = sum(1 for chosen in splits if abs(statistic(chosen)[0]) >= threshold)
    p = extreme / len(splits) if exact else (1 + extreme) / (1 + len(splits))
    mean_first = seq_sum(v for v, _ in first) / len(first)
    mean_second = seq_sum(v for v, _ in second) / len(second)
    return {"n_first": len(first), "n_second": len(second), "units_first": len(a), "units_second": len(b),
            "mean_first": mean_first, "mean_second": mean_second, "difference": mean_first - mean_second,
            "ci_low": low, "ci_high": high, "p": p, "p_exact": exact}


def holm(tests):
    """tests: dicts with "p"; sets "p_holm" (ties in the given order)."""
    order = sorted(range(len(tests)), key=lambda i: (tests[i]["p"], i))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(tests) - rank) * tests[i]["p"]))
        tests[i]["p_holm"] = running


def expected_groups(pairs, case):
    pairs = case_pairs(pairs, case)
    groups, clusters = case["groups"], case["clusters"]
    draws = Draws(BOOTSTRAP_SEED, RESAMPLES, LEVEL)
    names = sorted(set(groups))
    members = [[i for i, g in enumerate(groups) if g == name] for name in names]
    cluster_ids = None
    if clusters:
        index = {}
        cluster_ids = [index.setdefault(c, len(index)) for c in clusters]

    def layer_summaries(at):
        sub_clusters = [cluster_ids[i] for i in at] if cluster_ids else None
        out = {}
        for index, (name, _) in enumerate(LAYERS):
            layers = [pairs[i]["layers"][index] for i in at]
            out[name] = {"metrics": {m: draws.summary([value(l, m) for l in layers], sub_clusters) for m in METRICS},
                         "pooled_enrichment": draws.pooled(layers, sub_clusters)}
        return out
    per_group = {name: layer_summaries(at) for name, at in zip(names, members)}
    comparisons = []
    for a, b in itertools.combinations(range(len(names)), 2):
        metrics = {}
        for metric in METRICS:
            rows = {}
            for index, (layer, _) in enumerate(LAYERS):
                def sample(at):
                    return [(value(pairs[i]["layers"][index], metric), cluster_ids[i] if cluster_ids else i) for i in at
                            if value(pairs[i]["layers"][index], metric) is not None]
                rows[layer] = compare(sample(members[a]), sample(members[b]), draws)
            metrics[metric] = rows
        comparisons.append({"first": names[a], "second": names[b], "metrics": metrics})
    for metric in METRICS:
        holm([c["metrics"][metric][layer] for c in comparisons for layer, _ in LAYERS
              if c["metrics"][metric][layer] is not None])
    return {"pairs": pairs, "groups": groups, "clusters": clusters, "names": names, "folder": layer_summaries(range(len(pairs))),
            "per_group": per_group, "comparisons": comparisons}


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
    groups = {"about": "written by tools/make_statistics_fixtures.py; the pairs of statistics.json in groups (and clusters), "
                       "compared as vae-dist does, recomputed in plain Python",
              "resamples": RESAMPLES, "bootstrap_seed": BOOTSTRAP_SEED, "ci_level": LEVEL, "permutations": PERMUTATIONS,
              "cases": {name: expected_groups(pairs, case) for name, case in GROUP_CASES.items()}}
    out = os.path.join("Tests", "Fixtures", "statistics", "groups.json")
    with open(out, "w") as f:
        json.dump(groups, f, indent=1)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
