"""``hftpipe bench slippage``: each timed call answers what it should; a short run reports every variant.

Nothing asserts on time.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench import slippage_bench as sb
from hftpipe.schema.trading import RejectReason
from hftpipe.strategy import SlippageEstimate, WalkStatus


def test_each_timed_call_walks_what_it_says() -> None:
    answers = {name: call() for name, call in sb.calls().items()}
    walks = {name: a for name, a in answers.items() if isinstance(a, SlippageEstimate)}
    assert {name: (w.status, w.levels) for name, w in walks.items()} == {
        "book_estimate_1": (WalkStatus.FULL, 1),
        "book_estimate_3": (WalkStatus.FULL, 3),
        "book_estimate_10": (WalkStatus.FULL, 10),
        "book_estimate_short": (WalkStatus.SHORT, 10),
        "depth_estimate_3": (WalkStatus.FULL, 3),
    }
    assert walks["depth_estimate_3"] == walks["book_estimate_3"]
    assert answers["risk_slippage_3"] is RejectReason.NONE  # 3 levels one tick apart: far inside 100 bps
    assert answers[sb.BASELINE] is RejectReason.NONE


def test_hftpipe_bench_slippage_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hftpipe", "bench", "slippage", "--json", "--repetitions", "2", "--calls", "50"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert set(report["median_ns"]) == set(sb.calls())
    assert report["ratio_to_baseline"][sb.BASELINE] == 1.0
