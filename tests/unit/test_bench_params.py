"""`bench.params`: bizStep's time for as many matches as another parameter's value, the figure
every "× bizStep" read ratio divides by."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.params import _bizstep_line


def test_the_line_passes_through_the_median_of_each_measured_count() -> None:
    line = _bizstep_line([(0, 1.0), (100, 10.0), (100, 12.0), (100, 30.0), (1000, 100.0)])
    assert line(0) == 1.0
    assert line(100) == 12.0
    assert line(1000) == 100.0


def test_between_counts_it_interpolates_and_beyond_the_last_it_keeps_the_last_slope() -> None:
    line = _bizstep_line([(0, 1.0), (100, 11.0), (1000, 101.0)])
    assert line(50) == 6.0
    assert line(550) == 56.0
    assert line(2000) == 201.0


def test_it_never_reads_below_a_query_that_matches_nothing() -> None:
    # A noisy large-count point lower than a smaller one must not push the line below the
    # fixed cost of any query.
    line = _bizstep_line([(0, 2.0), (10, 5.0), (20, 3.0)])
    assert line(1000) == 2.0


@given(st.lists(st.tuples(st.integers(1, 10**6), st.floats(0.1, 1e4)), min_size=1, max_size=20),
       st.floats(0.1, 10.0), st.integers(0, 2 * 10**6))
def test_increasing_points_give_an_increasing_line(points: list[tuple[int, float]],
                                                   empty: float, n: int) -> None:
    ordered = sorted(points)
    times = sorted(ms for _, ms in ordered)
    pts = [(0, empty)] + [(c, empty + ms) for (c, _), ms in zip(ordered, times, strict=True)]
    line = _bizstep_line(pts)
    assert empty <= line(n) <= line(n + 1000) + 1e-9
