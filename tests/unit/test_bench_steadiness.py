"""bench.e2e.steadiness: the 'no empty seconds' figure of issue 23 is counted, not drawn."""

from bench.e2e import steadiness


def test_seconds_without_a_result_are_counted_after_the_fill() -> None:
    start = 1000.0
    # 10 s window: results in every second but 1005 and 1007; the first 2 s (filling) are ignored.
    times = [start + s + 0.5 for s in range(10) if s not in (5, 7)] + [start + 0.1] * 5
    out = steadiness(times, start, start + 10)
    assert out == {"empty_seconds": 2, "results_per_s_min": 0, "results_per_s_p50": 1}


def test_steady_results_have_no_empty_second() -> None:
    start = 50.0
    times = [start + i / 100 for i in range(1000)]  # 100/s for 10 s
    out = steadiness(times, start, start + 10)
    assert out["empty_seconds"] == 0 and out["results_per_s_min"] == 100
