/**
 * Signing out deletes the person's unsent edits kept in this browser (drafts.js), so
 * that the next person to use it neither sees nor sends them. Loaded on every page.
 */

import { forgetUser } from "./drafts.js";

for (const form of document.querySelectorAll("form[data-sign-out]")) {
  form.addEventListener("submit", async (event) => {
    if (form.dataset.forgotten === "yes") return;
    event.preventDefault();
    try {
      await forgetUser(form.dataset.userId);
    } finally {
      form.dataset.forgotten = "yes";
      form.submit(); // fires no second submit event
    }
  });
}
