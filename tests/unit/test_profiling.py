"""bench.profiling's pure parts: collapsed stacks, JFR's text, the summary and the flame graph."""

from __future__ import annotations

from collections import Counter

from bench.profiling import flame_svg, read_folded, summarise

FOLDED = """\
<module> (gxctl/main.py:1);run (faust/app.py:10);poll (aiokafka/fetcher.py:5) 30
<module> (gxctl/main.py:1);run (faust/app.py:10);submit (streams/submitter.py:99);sign (fabric_gateway/identity.py:7) 50
<module> (gxctl/main.py:1);run (faust/app.py:10);submit (streams/submitter.py:99) 20
"""


def test_collapsed_stacks_are_read_with_their_counts() -> None:
    stacks = read_folded(FOLDED)
    assert sum(stacks.values()) == 100 and len(stacks) == 3


def test_the_summary_gives_self_and_total_shares_of_the_samples() -> None:
    s = summarise(read_folded(FOLDED))
    assert s["samples"] == 100
    assert s["self"][:3] == [("sign (identity.py)", 50.0), ("poll (fetcher.py)", 30.0), ("submit (submitter.py)", 20.0)]
    assert dict(s["total"])["submit (submitter.py)"] == 70.0 and dict(s["total"])["run (app.py)"] == 100.0


def test_the_flame_graph_draws_each_frame_as_wide_as_its_samples() -> None:
    svg = flame_svg(read_folded(FOLDED), "submitter: 100 samples", width=1000)
    assert svg.startswith("<svg") and "submitter: 100 samples" in svg
    assert 'width="1000.0"' in svg  # the root frame: every sample
    assert 'width="700.0"' in svg  # submit: 70 of 100
    assert 'width="500.0"' in svg  # sign: 50 of 100
    assert "(50 samples, 50.0%)" in svg


def test_an_empty_profile_draws_an_empty_graph() -> None:
    assert "<rect" not in flame_svg(Counter(), "nothing")


JFR_TEXT = """\
jdk.ExecutionSample {
  startTime = 17:47:51.927
  sampledThread = "task-thread-gx-outbox-0" (javaThreadId = 53)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.lang.Thread.setContextClassLoader(ClassLoader) line: 1532
    org.apache.kafka.connect.runtime.WorkerTask.run() line: 298
  ]
}

jdk.ExecutionSample {
  startTime = 17:47:51.929
  sampledThread = "task-thread-gx-outbox-0" (javaThreadId = 53)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.lang.Thread.setContextClassLoader(ClassLoader) line: 1532
    org.apache.kafka.connect.runtime.WorkerTask.run() line: 298
    ...
  ]
}
"""


def test_jfr_samples_become_collapsed_stacks_root_first() -> None:
    from bench.profiling import jfr_stacks

    assert jfr_stacks(JFR_TEXT) == Counter(
        {"org.apache.kafka.connect.runtime.WorkerTask.run();java.lang.Thread.setContextClassLoader(ClassLoader)": 2}
    )
