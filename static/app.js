// Progressive enhancement only: every page works without JavaScript.
document.addEventListener("click", (ev) => {
  const toggle = ev.target.closest("[data-toggle]");
  if (toggle) {
    const nav = document.getElementById(toggle.dataset.toggle);
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  }
  const copy = ev.target.closest("[data-copy]");
  if (copy && navigator.clipboard) {
    const el = document.getElementById(copy.dataset.copy);
    navigator.clipboard.writeText(el.textContent.trim());
    copy.textContent = copy.dataset.copied || "✓";
  }
});
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
// After a lookup, a redemption or a void the page comes back with the answer: bring it into
// view (on a phone it would be below the fold) and move the focus to it, so a screen
// reader reads it and the next key press acts on it.
document.addEventListener("DOMContentLoaded", () => {
  const result = document.querySelector("[data-focus-result] .answer");
  if (result) {
    result.setAttribute("tabindex", "-1");
    result.focus({ preventScroll: true });
    result.scrollIntoView({ block: "start" });
  }
});
// The followers' filters start open on a wide screen; on a phone they would fill the first
// screen, so they stay behind their summary until asked for.
document.addEventListener("DOMContentLoaded", () => {
  if (window.matchMedia("(min-width: 641px)").matches) {
    document.querySelectorAll("details.filters").forEach((d) => { d.open = true; });
  }
});
// One navigation group open at a time, closed by a click elsewhere or Escape.
document.addEventListener("toggle", (ev) => {
  const d = ev.target;
  if (d.classList && d.classList.contains("navgroup") && d.open) {
    document.querySelectorAll("details.navgroup[open]").forEach((o) => { if (o !== d) o.open = false; });
  }
}, true);
document.addEventListener("click", (ev) => {
  if (!ev.target.closest("details.navgroup")) {
    document.querySelectorAll("details.navgroup[open]").forEach((o) => { o.open = false; });
  }
});
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") {
    document.querySelectorAll("details.navgroup[open]").forEach((o) => {
      o.open = false;
      o.querySelector("summary").focus();
    });
  }
});
// Fields that apply to one choice only (data-show-when="kind=gift exchange") are shown
// for that choice; without script every field shows and the server ignores the others.
function applyShowWhen(form) {
  form.querySelectorAll("[data-show-when]").forEach((el) => {
    const [name, values] = el.dataset.showWhen.split("=");
    const control = form.querySelector(`[name="${name}"]:checked`) || form.querySelector(`select[name="${name}"]`);
    // An empty value list means "when nothing is chosen" (a menu button with a submenu).
    el.hidden = !!control && !values.split(" ").includes(control.value);
  });
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form").forEach((form) => {
    if (form.querySelector("[data-show-when]")) {
      applyShowWhen(form);
      form.addEventListener("change", () => applyShowWhen(form));
    }
  });
});
