// keyward console enhancements. Every page works without this file; it only adds
// conveniences. No inline script anywhere, so the Content-Security-Policy stays strict.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Selects that submit their form on change (the workspace switcher).
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) el.form.submit();
  });

  // Copy buttons: <button data-copy-target="ID">; shows "Copied" for a moment.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-copy-target]");
    if (!btn) return;
    var field = document.getElementById(btn.getAttribute("data-copy-target"));
    if (!field) return;
    var text = field.value !== undefined ? field.value : field.textContent;
    var status = btn.parentNode.querySelector(".copy-status");
    var done = function (ok) {
      if (status) status.textContent = ok ? "Copied" : "Press Ctrl+C to copy";
      btn.setAttribute("data-copied", ok ? "true" : "false");
      var label = btn.querySelector(".label") || btn;
      var before = label.textContent;
      if (ok) { label.textContent = "Copied"; setTimeout(function () { label.textContent = before; }, 2000); }
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { field.select && field.select(); done(false); });
    } else {
      field.select && field.select();
      done(false);
    }
  });

  // Read-only secret fields select their whole content on focus.
  document.addEventListener("focusin", function (e) {
    if (e.target.matches && e.target.matches("input[data-select-on-focus]")) e.target.select();
  });

  // Confirmation links (<a data-dialog>) open their confirm page's form in a <dialog> over
  // the current page instead of navigating. The same form posts to the same handler.
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a[data-dialog]");
    if (!link || typeof HTMLDialogElement !== "function") return;
    e.preventDefault();
    fetch(link.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var panel = doc.querySelector("[data-confirm-panel]");
        if (!panel) { window.location = link.href; return; }
        var dialog = document.createElement("dialog");
        dialog.setAttribute("aria-labelledby", "dialog-title");
        var heading = panel.querySelector("h1");
        if (heading) heading.id = "dialog-title";
        dialog.appendChild(document.importNode(panel, true));
        document.body.appendChild(dialog);
        var cancel = dialog.querySelector("[data-cancel]");
        if (cancel) cancel.addEventListener("click", function (ev) { ev.preventDefault(); dialog.close(); });
        dialog.addEventListener("close", function () { dialog.remove(); link.focus(); });
        dialog.showModal();
        var first = dialog.querySelector("[autofocus], button, input, a");
        if (first) first.focus();
      })
      .catch(function () { window.location = link.href; });
  });
})();

// The create form: picking a custom date selects "Custom date" and shows the resulting day.
(function () {
  "use strict";
  var input = document.getElementById("expiry_date");
  var radio = document.getElementById("expiry-custom");
  var out = document.getElementById("expiry-custom-result");
  if (!input || !radio || !out) return;
  var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  input.addEventListener("change", function () {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.value);
    if (!m) return;
    radio.checked = true;
    out.textContent = "Expires at the end of " + Number(m[3]) + " " + months[Number(m[2]) - 1] + " " + m[1] + " (UTC)";
  });
})();
