// vibot review UI: keyboard shortcuts, the live caption count, disclosure checks and confirmations.
// No inline scripts anywhere (the Content-Security-Policy forbids them): everything is here.
"use strict";

function typing(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function click(selector) {
  const link = document.querySelector(selector);
  if (link) { link.click(); return true; }
  return false;
}

// -- the review queue: a current card that j/k move and a/r/o act on ------------------------
function queueKeys() {
  const cards = Array.from(document.querySelectorAll(".card"));
  let index = -1;
  // The first card is marked current on load but not focused: keyboard users start at the
  // navigation, like on every other page; j/k move the focus to the cards.
  const select = (next, focus = true) => {
    if (!cards.length) return;
    index = Math.max(0, Math.min(cards.length - 1, next));
    cards.forEach((card, i) => card.classList.toggle("current", i === index));
    if (focus) {
      cards[index].focus({ preventScroll: true });
      cards[index].scrollIntoView({ block: "nearest" });
    }
  };
  if (cards.length) select(0, false);
  return (event) => {
    const card = cards[index];
    switch (event.key) {
      case "j": select(index + 1); return true;
      case "k": select(index - 1); return true;
      case "a": if (card) card.querySelector("form.approve").requestSubmit(); return true;
      case "r": if (card) card.querySelector("form.reject input[name=reason]").focus(); return true;
      case "o": case "Enter": if (card) card.querySelector("a.title").click(); return true;
      case "n": return click("a[rel=next]");
      case "p": return click("a[rel=prev]");
    }
    return false;
  };
}

// -- the post page --------------------------------------------------------------------------
function postKeys() {
  return (event) => {
    switch (event.key) {
      case "j": return click("#following");
      case "k": return click("#previous");
      case "a": {
        const form = document.querySelector("form.approve");
        if (form) form.requestSubmit();
        return Boolean(form);
      }
      case "r": {
        const input = document.querySelector("form.reject input[name=reason]");
        if (input) input.focus();
        return Boolean(input);
      }
      case "e": {
        const area = document.querySelector("#caption");
        if (area) area.focus();
        return Boolean(area);
      }
    }
    return false;
  };
}

// The count the server will see: the locked line, a blank line, the body, and the
// disclosure hashtag if the body lacks it (see content/disclosure/label.py: lock_disclosure).
function liveCount() {
  for (const area of document.querySelectorAll("textarea[data-limit]")) {
    const count = document.getElementById(area.dataset.count);
    const tags = document.getElementById(area.dataset.tags);
    if (!count) continue;
    const prefix = Number(area.dataset.prefix), limit = Number(area.dataset.limit);
    const hashtag = (area.dataset.hashtag || "").toLowerCase();
    const update = () => {
      const body = area.value.trim();
      const words = body.toLowerCase().split(/\s+/);
      const extra = hashtag && !words.includes(hashtag) ? hashtag.length + 1 : 0;
      const total = prefix + body.length + extra;
      count.textContent = `${total} / ${limit}`;
      count.classList.toggle("over", total > limit);
      if (tags) tags.textContent = String(words.filter((w) => w.startsWith("#") && w.length > 1).length + (extra ? 1 : 0));
    };
    area.addEventListener("input", update);
    update();
  }
}

// Disclosure layers are read back by the server once per file (it can take a second), so the
// page itself stays fast: each card asks after it is shown.
function disclosureChecks() {
  const spans = Array.from(document.querySelectorAll("[data-check]"));
  const ask = async (span) => {
    try {
      const response = await fetch(span.dataset.check, { credentials: "same-origin" });
      const result = await response.json();
      const problems = result.files.flatMap((f) => f.problems);
      span.textContent = problems.length ? `media layers: ${problems.join("; ")}` : "media layers: all present (label, XMP, C2PA, watermark)";
      span.className = problems.length ? "check bad" : "check ok";
    } catch (err) {
      span.textContent = "media layers: could not check";
    }
  };
  // One at a time: the checks are CPU work on the server, the page should not queue a pile.
  spans.reduce((done, span) => done.then(() => ask(span)), Promise.resolve());
}

function confirmations() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  const handler = page === "queue" ? queueKeys() : page === "post" ? postKeys() : () => false;
  const help = document.querySelector("#help");
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Enter" && ["A", "BUTTON"].includes(event.target.tagName)) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "?") { help.hidden = !help.hidden; event.preventDefault(); return; }
    if (event.key === "Escape") { help.hidden = true; return; }
    if (handler(event)) event.preventDefault();
  });
  liveCount();
  disclosureChecks();
  confirmations();
});
