"""Compare two traces of scenarios/backends_crosscheck.yaml point by point: the torch backend's
and the TensorFlow backend's (same scenario, ``--set phy.backend=tensorflow``).

For each point: the metric (``ber`` for link.mode bits, ``nmse`` for analog tokens), its standard
error in each trace (``ber_stderr``; for NMSE the spread of ``nmse_per_frame`` over sqrt(frames)),
and ``z = |a - b| / sqrt(se_a^2 + se_b^2)``. The backends draw from different generators, so they
agree when every z stays within a few units (|z| < 4: a false alarm about once in 16,000 points).
Exit status 1 if one does not::

    .venv/bin/python examples/compare_backends.py results/crosscheck_torch.h5 results/crosscheck_tf.h5
"""

import sys

import numpy as np

from tokenlink.trace.reader import read_trace

Z_MAX = 4.0


def _metric(point) -> tuple[str, float, float]:
    m = point.metrics
    if "ber" in m:
        return "ber", float(m["ber"]), float(m["ber_stderr"])
    per_frame = np.asarray(m["nmse_per_frame"], dtype=float)
    return "nmse", float(m["nmse"]), float(per_frame.std(ddof=1) / np.sqrt(per_frame.size))


def main(path_a: str, path_b: str) -> int:
    b_points = {p.key: p for p in read_trace(path_b).complete_points}
    worst = 0.0
    for p in read_trace(path_a).complete_points:
        if p.key not in b_points:
            print(f"{p.key}: missing in {path_b}")
            return 1
        name, va, sa = _metric(p)
        _, vb, sb = _metric(b_points[p.key])
        z = abs(va - vb) / np.hypot(sa, sb)
        worst = max(worst, z)
        params = ", ".join(f"{k}={v}" for k, v in p.params.items())
        print(f"{params:<70} {name:<5} {va:.4g} +- {sa:.2g}   {vb:.4g} +- {sb:.2g}   z = {z:.2f}")
    print(f"largest z: {worst:.2f} ({'agree' if worst < Z_MAX else 'DISAGREE'} within {Z_MAX:g} standard errors)")
    return 0 if worst < Z_MAX else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
