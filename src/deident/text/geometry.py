"""Where a quad's line runs, and which quads are pieces of one line: for the line rules
(``deident.text``) and the detector's looks past a line's ends (``detect``) alike."""

from __future__ import annotations

# Fragments of one line: extents across the line overlapping by this share of the smaller one, heights
# within this ratio, at most this many (mean) heights apart along it, axes within this angle.
RUN_ACROSS = 0.6
RUN_HEIGHT = 0.6
RUN_GAP = 1.0
RUN_ANGLE = 15.0
SQUARE = 1.3  # a quad less elongated than this has no reliable axis of its own (one or two glyphs)


def side_axes(q) -> tuple:
    """Unit vectors along the quad's first and second side pairs, and the pairs' summed lengths."""
    import numpy as np

    q = np.asarray(q, np.float64)
    u = (q[1] - q[0]) + (q[2] - q[3])
    v = (q[3] - q[0]) + (q[2] - q[1])
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    return u / max(nu, 1e-6), v / max(nv, 1e-6), nu, nv


def axes(quad) -> tuple:
    """(unit vector along the line, elongation) of a quad, the line taken as its longer side."""
    import numpy as np

    u, v, nu, nv = side_axes(quad)
    if max(nu, nv) < 1e-6:
        return np.array([1.0, 0.0]), 1.0
    return (u, nu / max(nv, 1e-6)) if nu >= nv else (v, nv / max(nu, 1e-6))


def same_line(qa, qb, square: float = SQUARE) -> bool:
    """True when quads ``qa`` and ``qb`` look like neighbouring fragments of one line of text; quads less
    elongated than ``square`` have no axis of their own."""
    import math

    import numpy as np

    (ua, ea), (ub, eb) = axes(qa), axes(qb)
    ref, other, u, e_other = (qa, qb, ua, eb) if ea >= eb else (qb, qa, ub, ea)
    if e_other >= square and abs(float(u @ axes(other)[0])) < math.cos(math.radians(RUN_ANGLE)):
        return False
    # Near-square pairs (single glyphs) have no axis to trust: either direction may be the line.
    directions = [u] if max(ea, eb) >= square else [u, np.array([-u[1], u[0]])]
    r, o = np.asarray(ref, np.float64), np.asarray(other, np.float64)
    for along in directions:
        across = np.array([-along[1], along[0]])
        (r0, r1), (o0, o1) = ((float(p.min()), float(p.max())) for p in (r @ across, o @ across))
        hr, ho = r1 - r0, o1 - o0
        if min(hr, ho) <= 0 or min(hr, ho) < RUN_HEIGHT * max(hr, ho):
            continue
        if min(r1, o1) - max(r0, o0) < RUN_ACROSS * min(hr, ho):
            continue
        (a0, a1), (b0, b1) = ((float(p.min()), float(p.max())) for p in (r @ along, o @ along))
        if max(b0 - a1, a0 - b1) <= RUN_GAP * (hr + ho) / 2:
            return True
    return False
