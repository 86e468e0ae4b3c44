"""The benchmarks keep running (on a small scale); their speed is measured by `make bench`, not here."""

from bench import codes


def test_codes_benchmark_runs_and_counts_refusals():
    figures = dict(codes.run(scale=0.001))
    labels = list(figures)
    assert labels[0].startswith("resident ID numbers validated (1,000, 10 refused)")
    assert labels[1].startswith("credit codes validated (1,000, 10 refused)")
