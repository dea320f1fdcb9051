"""The browser half of `make e2e`: Airflow 3's React UI driven by Playwright.

Selectors follow what a user sees (roles, labels, button names), so a UI
change shows up as a clear "could not find ..." failure with a screenshot.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMEOUT_MS = 30_000


class UiDriver:
    def __init__(
        self, context: Any, base_url: str, shots: Path, say: Callable[[str], None]
    ) -> None:
        self.context = context
        self.base_url = base_url.rstrip("/")
        self.shots = shots
        self.say = say
        self.page = context.pages[0] if context.pages else context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)

    def shot(self, name: str, target: Any = None) -> Path:
        path = self.shots / name
        (target or self.page).screenshot(path=str(path), **({} if target else {"full_page": True}))
        self.say(f"screenshot: {path}")
        return path

    def login(self, username: str, password: str) -> None:
        page = self.page
        page.goto(self.base_url + "/")
        # Not signed in: the SimpleAuthManager's login page.
        page.wait_for_url("**/auth/login**")
        self.shot("01-login.png")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)
        page.get_by_role("button", name="Admin").wait_for()
        self.say(f"UI: signed in as {username}; now at {page.url}")

    def connection_form(self, search: str, option: str) -> dict[str, list[str]]:
        """Open "Add Connection", choose the connection type, return what the form shows.

        The form has two accordion sections (standard fields, extra fields) of
        which one is open at a time: both are opened in turn and screenshotted.
        """
        page = self.page
        page.goto(self.base_url + "/connections")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        combo = dialog.get_by_role("combobox", name="Connection Type")
        combo.click()
        combo.fill(search)
        page.get_by_role("option", name=option, exact=True).click()
        # The chosen type's fields render below the type picker.
        dialog.get_by_role("button", name="Extra Fields", exact=True).wait_for()
        dialog.get_by_text("Standard Fields", exact=True).wait_for()
        labels = self._visible_labels(dialog)
        placeholders = [
            p
            for p in (
                dialog.locator(f"input[name={name}]").first.get_attribute("placeholder")
                for name in ("host", "password")
            )
            if p
        ]
        self.shot("02-connection-form-standard-fields.png", dialog)
        dialog.get_by_role("button", name="Extra Fields", exact=True).click()
        dialog.locator("label", has_text="Retry limit").first.wait_for(state="visible")
        labels += [label for label in self._visible_labels(dialog) if label not in labels]
        self.shot("03-connection-form-extra-fields.png", dialog)
        self.say(f"UI: {option} connection form labels {labels}, placeholders {placeholders}")
        return {"labels": labels, "placeholders": placeholders}

    @staticmethod
    def _visible_labels(scope: Any) -> list[str]:
        found = []
        for label in scope.locator("label").all():
            if label.is_visible():
                text = " ".join(label.inner_text().replace("*", " ").split())
                if text:
                    found.append(text)
        return found

    def extra_link(self, dag_id: str, run_id: str, task_id: str, name: str) -> str | None:
        """The href of a task instance's extra link, as the Details tab shows it."""
        page = self.page
        run = urllib.parse.quote(run_id, safe="")
        page.goto(f"{self.base_url}/dags/{dag_id}/runs/{run}/tasks/{task_id}/details")
        page.get_by_text("Extra Links", exact=True).wait_for()
        link = page.get_by_role("link", name=name, exact=True)
        link.wait_for()
        # Let the details table fill in before the screenshot (it loads separately).
        page.locator("tr", has_text="Run ID").filter(has_text=run_id).first.wait_for()
        href = link.get_attribute("href")
        self.shot("04-task-instance-extra-link.png")
        self.say(f'UI: {dag_id}.{task_id} Details tab: "{name}" -> {href}')
        return href
