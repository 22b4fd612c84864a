"""What the demo prints about its progress."""

from __future__ import annotations

from rdi.demo.progress import Progress, render_progress


def test_the_progress_line_during_the_snapshot_shows_each_table() -> None:
    progress = Progress("snapshot", {"orders": "500/2000", "customers": "200/200"}, 700, 650, 0,
                        {"customer:*": 200, "product:*": 0, "order:*": 420})  # fmt: skip
    assert render_progress(progress, {}, 3.2) == (
        "[    3s] snapshot customers 200/200, orders 500/2000 | staged 700 | processed 650 | "
        "changes 0 inserts, 0 updates, 0 deletes | keys 200 customer:*, 0 product:*, 420 order:*"
    )


def test_the_progress_line_while_streaming_counts_live_changes_and_rejections() -> None:
    progress = Progress("streaming", {"orders": "2000/2000", "customers": "200/200"}, 2410, 2400, 3,
                        {"customer:*": 200, "product:*": 50, "order:*": 1660})  # fmt: skip
    assert render_progress(progress, {"insert": 80, "update": 1200, "delete": 20}, 12) == (
        "[   12s] streaming | staged 2,410 (snapshot 2,200) | processed 2,400 (rejected 3) | "
        "changes 80 inserts, 1,200 updates, 20 deletes | keys 200 customer:*, 50 product:*, 1,660 order:*"
    )
