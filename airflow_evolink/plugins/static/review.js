// Review page: Approve / Reject send the decision and the note to the gallery's answer route, which
// records them through Airflow's own human-in-the-loop API. The CSRF token from the page goes in a
// header a cross-site form cannot set.
"use strict";

(function () {
  const meta = document.querySelector('meta[name="evolink-csrf"]');
  const token = meta ? meta.getAttribute("content") : "";
  const header = meta ? meta.getAttribute("data-header") : "X-Evolink-CSRF";

  function showDecision(section, result) {
    const box = section.querySelector('[data-testid="decision"]');
    const choice = (result.chosen_options || [])[0] || "";
    const who = (result.responded_by && result.responded_by.name) || "you";
    const note = (result.params_input && result.params_input.note) || "";
    box.textContent = "";
    const strong = document.createElement("strong");
    strong.className = "decision-" + choice.toLowerCase();
    strong.textContent = { Approve: "Approved", Reject: "Rejected" }[choice] || choice;
    box.appendChild(strong);
    box.appendChild(document.createTextNode(" by " + who + (note ? ': "' + note + '"' : "")));
    box.setAttribute("data-decision", choice);
    box.hidden = false;
  }

  async function answer(section, decision) {
    const form = section.querySelector("form.answer");
    const error = section.querySelector('[data-testid="answer-error"]');
    const buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    error.hidden = true;
    try {
      const response = await fetch(section.getAttribute("data-answer-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", [header]: token },
        body: JSON.stringify({ decision: decision, note: form.querySelector("textarea").value }),
      });
      const result = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        throw new Error(typeof result.detail === "string" ? result.detail : "HTTP " + response.status);
      }
      showDecision(section, result);
      form.remove();
    } catch (e) {
      error.textContent = "Not recorded: " + e.message;
      error.hidden = false;
      buttons.forEach(function (b) { b.disabled = false; });
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("form.answer button[data-decision]");
    if (!button) return;
    answer(button.closest("section.review"), button.getAttribute("data-decision"));
  });
})();
