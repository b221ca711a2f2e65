/* Keyboard shortcuts of the match review queue (/console/lists/review): J/K move between candidates, Y / N choose
   "same" / "not same" for the current one. The reason is required, so a verdict key with an empty reason focuses
   the reason field and remembers the verdict; Enter in the field then submits that verdict. Enter without a chosen
   verdict does nothing (the browser would otherwise submit the first button, "same"). */
(function () {
  "use strict";
  var candidates = Array.prototype.slice.call(document.querySelectorAll("[data-candidate]"));
  if (!candidates.length) { return; }
  var current = 0;

  function select(i) {
    if (i < 0 || i >= candidates.length) { return; }
    candidates[current].classList.remove("current");
    current = i;
    candidates[i].classList.add("current");
    candidates[i].scrollIntoView({ block: "nearest" });
  }
  function decide(form, verdict) {
    var reason = form.querySelector("input[name=reason]");
    form.setAttribute("data-chosen", verdict);
    form.querySelectorAll("[data-verdict]").forEach(function (b) {
      b.classList.toggle("chosen", b.getAttribute("data-verdict") === verdict);
    });
    if (!reason.value.trim()) { reason.focus(); return; }
    form.requestSubmit(form.querySelector("[data-verdict=" + verdict + "]"));
  }

  candidates.forEach(function (el, i) {
    el.addEventListener("focusin", function () { select(i); });
  });
  select(0);

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var form = candidates[current].querySelector("[data-review-form]");
    var inField = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
    if (inField) {
      if (e.key === "Enter" && e.target.name === "reason") {
        e.preventDefault();
        var chosen = e.target.form.getAttribute("data-chosen");
        if (chosen && e.target.value.trim()) {
          e.target.form.requestSubmit(e.target.form.querySelector("[data-verdict=" + chosen + "]"));
        }
      }
      return;
    }
    var key = e.key.toLowerCase();
    if (key === "j") { select(current + 1); e.preventDefault(); }
    else if (key === "k") { select(current - 1); e.preventDefault(); }
    else if (form && key === "y") { decide(form, "same"); e.preventDefault(); }
    else if (form && key === "n") { decide(form, "not_same"); e.preventDefault(); }
  });
})();
