// Live pages without a framework: every element with data-poll is refreshed from the
// HTML fragment at that URL about once a second. A job page stops once the fragment
// no longer says data-live (the job is final); a list keeps watching for new jobs.
"use strict";

const INTERVAL_MS = 1000;

async function refresh(element) {
  const response = await fetch(element.dataset.poll, {credentials: "same-origin", headers: {Accept: "text/html"}});
  if (response.redirected || response.status === 401) {
    window.location.assign("/");  // signed out or the key was revoked: back to the sign-in form
    return false;
  }
  if (!response.ok) {
    return true;  // a passing failure: try again at the next tick
  }
  element.innerHTML = await response.text();
  if (element.hasAttribute("data-live") && !element.querySelector("[data-live]")) {
    element.removeAttribute("data-live");
    return false;
  }
  return true;
}

function watch(element) {
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
  for (const element of document.querySelectorAll("[data-poll]")) {
    const isJob = element.id === "job";
    if (!isJob || element.hasAttribute("data-live")) {
      watch(element);
    }
  }
});
