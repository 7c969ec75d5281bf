// The portal works without this script; it only saves clicks: facets apply when ticked,
// criteria rows are added and removed, and the cohort's counts (and the link to their JSON
// twin) refresh as criteria change.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("[data-autosubmit]")) {
    input.addEventListener("change", () => input.form.requestSubmit());
  }
  const cohort = document.querySelector("form[data-live-counts]");
  if (cohort) liveCounts(cohort);
  const analysis = document.querySelector("form[data-analysis-form]");
  if (analysis) analysisChoice(analysis);
});

function liveCounts(form) {
  const criteria = form.querySelector("#criteria");
  const template = document.getElementById("criterion-template");
  const counts = document.getElementById("counts");
  const analyse = document.getElementById("analyse");
  let added = 0, timer = null, asked = 0;

  const query = () => new URLSearchParams(new FormData(form)).toString();
  const refresh = async () => {
    const q = query();
    history.replaceState(null, "", "?" + q);
    analyse.href = "/portal/analyses/new?" + q;
    const mine = ++asked;
    counts.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/portal/cohort?partial=counts&" + q, {credentials: "same-origin"});
      if (mine === asked && response.ok) {
        counts.innerHTML = await response.text();
        showTwin(counts.querySelector("[data-twin]")?.dataset.twin);
      }
    } finally {
      if (mine === asked) counts.removeAttribute("aria-busy");
    }
  };
  const soon = () => { clearTimeout(timer); timer = setTimeout(refresh, 500); };

  form.addEventListener("change", soon);
  form.addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); refresh(); });
  form.querySelector("[data-add-criterion]").addEventListener("click", () => {
    const row = template.content.firstElementChild.cloneNode(true);
    added += 1;
    for (const el of row.querySelectorAll("[id]")) {
      const label = row.querySelector(`label[for="${el.id}"]`);
      el.id = el.id.replace("-new", "-new" + added);
      if (label) label.htmlFor = el.id;
    }
    criteria.appendChild(row);
    row.querySelector("input").focus();
  });
  criteria.addEventListener("click", (event) => {
    const button = event.target.closest("[data-remove]");
    if (!button) return;
    button.closest("[data-criterion]").remove();
    soon();
  });
}

// The page's JSON twin (its alternate link and the footer's) follows the cohort as it changes.
function showTwin(twin) {
  if (!twin) return;
  for (const link of document.querySelectorAll('link[rel="alternate"][type="application/json"], footer a.twin')) {
    link.setAttribute("href", twin);
    link.querySelector("code")?.replaceChildren(twin);
  }
}

function analysisChoice(form) {
  const sets = form.querySelectorAll("fieldset[data-for]");
  const show = () => {
    const chosen = form.querySelector("input[name=analysis]:checked");
    for (const set of sets) set.hidden = !chosen || set.dataset.for !== chosen.value;
  };
  form.addEventListener("change", show);
  show();
}
