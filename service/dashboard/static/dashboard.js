// Live pages without a framework, polling about once a second.
// A list (the jobs, the schedules, a schedule's last jobs) swaps in its rows fragment.
// A job page asks what changed since the version it shows: nothing (204), or the
// summary and only the new events, which it puts on top of the timeline (newest first),
// keeping a broken-chain badge once shown, an action's open confirmation while the
// same actions are offered, and the diagram folded or not; it stops once the job is final.
"use strict";

const INTERVAL_MS = 1000;

async function fetchFragment(url) {
  const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "text/html"}});
  if (response.redirected || response.status === 401) {
    window.location.assign("/");  // signed out or the key was revoked: back to the sign-in form
    return null;
  }
  if (response.status === 204 || !response.ok) {
    return "";  // nothing new, or a passing failure: ask again at the next tick
  }
  const fragment = document.createElement("template");
  fragment.innerHTML = await response.text();
  return fragment.content;
}

async function refreshList(tbody) {
  const rows = await fetchFragment(tbody.dataset.poll);
  if (rows) {
    tbody.replaceChildren(rows);
  }
  return rows !== null;
}

async function refreshJob(job) {
  const shown = job.querySelector("#summary");
  const changes = await fetchFragment(`${job.dataset.poll}?since=${shown.dataset.version}`);
  if (!changes) {
    return changes !== null;
  }
  const summary = changes.querySelector("#summary");
  // A poll checks only the new events' links, so a break found earlier must stay shown.
  const broken = shown.querySelector('[data-chain="broken"]');
  if (broken) {
    summary.querySelector("[data-chain]").replaceWith(broken);
  }
  const actions = shown.querySelector("#actions");
  const offered = summary.querySelector("#actions");
  if (actions && offered && actions.dataset.actions === offered.dataset.actions) {
    offered.replaceWith(actions);  // a confirmation the person opened stays open
  }
  const diagram = shown.querySelector("details.lifecycle-card");
  if (diagram) {
    summary.querySelector("details.lifecycle-card").open = diagram.open;
  }
  shown.replaceWith(summary);
  job.querySelector("#events").prepend(...changes.querySelector("#new-events").children);
  return summary.hasAttribute("data-live");
}

function every(refresh, element) {
  const tick = async () => {
    let again = true;
    try {
      again = await refresh(element);
    } catch (error) {
      again = true;  // the server restarting is not a reason to stop watching
    }
    if (again) {
      window.setTimeout(tick, INTERVAL_MS);
    }
  };
  window.setTimeout(tick, INTERVAL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  const list = document.querySelector("tbody[data-poll]");
  if (list) {
    every(refreshList, list);
  }
  const job = document.querySelector("#job[data-poll]");
  if (job && job.querySelector("#summary[data-live]")) {
    every(refreshJob, job);
  }
});
