"""A record edited while a full read pages through the app is not skipped.

A full read pages in id order. A record changed on a page already read
is not in this read; one changed later on a page still to come is, with a
newer ``updated_at``. The cursor the next changes read starts from must
not pass the first of those edits, or that change is never read (until
the next full read, a day later by default). Found by the faults soak
(tests/soak/test_soak_faults.py): slow pages and retries make a full read
last long enough for users to edit in the middle of it.
"""

from __future__ import annotations

import threading
import time

from e2e_support import LEFT_TOKEN, RIGHT_TOKEN, Pair, by_email

from syncd.sampleapp import AuthMode


def test_an_edit_on_a_page_already_read_is_read_by_the_next_cycle(sample_app, tmp_path) -> None:
    left = sample_app(n=60, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1, max_page_size=20)
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
    p = Pair(left, right, tmp_path / "config")
    p.write()
    first, last = left.store.all()[0], left.store.all()[-1]  # on the first page, on the last one
    held = left.faults.add(hold=True, method="GET", path_prefix="/cursor/contacts", skip=1)

    def edit_while_held() -> None:
        left.faults.wait_hit(held, timeout=60)  # the second page is asked for: the first is read
        left.store.update(first["id"], first_name="Edited-early")
        time.sleep(1.5)  # more than the cursor's overlap of one second
        left.store.update(last["id"], first_name="Edited-late")
        held.release()

    editor = threading.Thread(target=edit_while_held)
    editor.start()
    try:
        assert p.once()["created"]["right"] == 60
    finally:
        held.release()
        editor.join()
    # The full read found the late edit (its page came after it), not the early one.
    assert by_email(right)[last["email"]]["first_name"] == "Edited-late"
    assert by_email(right)[first["email"]]["first_name"] == first["first_name"]
    summary = p.once()  # a changes read, from the cursor the full read left
    assert summary["updated"]["right"] >= 1
    assert by_email(right)[first["email"]]["first_name"] == "Edited-early"
