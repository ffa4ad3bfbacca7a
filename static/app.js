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
