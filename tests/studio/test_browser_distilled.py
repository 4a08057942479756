"""The studio on a distilled run (train_distill.py) in the system Chromium: the Generate tab answers as the prompt
is typed, with no click, and reports the latency per image."""
import time

import pytest

from studio.history import History
from tests.studio.browser_harness import Server, chromium, set_number, wait_text

pytestmark = pytest.mark.browser


def test_a_distilled_run_regenerates_as_the_prompt_is_typed(tiny_student):
    playwright, browser = chromium()
    server = Server(tiny_student).start()
    try:
        ui = browser.new_page(viewport={"width": 1280, "height": 1100})
        ui.goto(server.url)
        ui.wait_for_selector("#gen-run")
        ui.locator("#gen-prompt textarea").fill("")
        ui.locator("#gen-prompt textarea").press_sequentially("a large blue square", delay=30)
        status = wait_text(ui, "#gen-status", "ms per image")
        assert "2 steps" in status
        prompts = []
        for _ in range(120):  # the last edit is answered, without a click
            prompts = [History(tiny_student).params(e)["spec"]["prompt"] for e in History(tiny_student).entries()]
            if "a large blue square" in prompts:
                break
            time.sleep(0.5)
        assert "a large blue square" in prompts
        assert len(prompts) < len("a large blue square")  # not one job per keystroke
        set_number(ui, "gen-steps", 1)  # a 1-step chain has one trajectory step to show (it once broke the slider)
        assert "1 steps" in wait_text(ui, "#gen-status", "1 steps")
    finally:
        server.stop()
        browser.close()
        playwright.stop()
