// keyward console enhancements. Every page works without this file; it only adds
// conveniences. No inline script anywhere, so the Content-Security-Policy stays strict.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Menus (<details class="menu">): one open at a time, closed by Escape or a click outside.
  // Without this file they still open and close like any <details>.
  document.addEventListener("click", function (e) {
    // A dialog opened from a menu keeps the menu open, so focus can go back to its link.
    if (e.target.closest && e.target.closest("dialog")) return;
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.open = false;
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || document.querySelector("dialog[open]")) return;
    var open = e.target.closest && e.target.closest("details.menu[open]");
    if (!open) return;
    open.open = false;
    open.querySelector("summary").focus();
  });

  // Copy buttons are hidden in the HTML (useless without a script) and shown here; the hint
  // for copying by hand gives way to the button.
  document.querySelectorAll("[data-copy-target][hidden]").forEach(function (btn) { btn.hidden = false; });
  document.querySelectorAll("[data-no-js-hint]").forEach(function (el) { el.hidden = true; });

  // A form page with errors opens with focus on its error summary (autofocus, so without this
  // file too); its links lead to the fields, centred rather than under the top edge.
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("[data-error-summary] a[href^='#']");
    if (!a) return;
    var field = document.getElementById(a.getAttribute("href").slice(1));
    if (!field) return;
    e.preventDefault();
    field.focus();
    field.scrollIntoView({ block: "center" });
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
        // The safe choice takes focus, so Enter, Enter never destroys anything (WAI-ARIA dialog
        // pattern for destructive actions): what the page marks (Cancel, where a choice sits
        // inside a destructive form: Enter on a radio would submit it), else the chosen radio
        // of a choice, else Cancel.
        var first = dialog.querySelector("[data-dialog-focus]") || dialog.querySelector("input[type=radio]:checked") ||
          dialog.querySelector("[data-cancel]") || dialog.querySelector("button, input, a");
        if (first) first.focus();
      })
      .catch(function () { window.location = link.href; });
  });
})();

// The key table's bulk selection: a "select every key on this page" box in the header (shown
// only with script; without it, rows are ticked one by one or "all matching" is chosen).
(function () {
  "use strict";
  var all = document.querySelector("input[data-select-all]");
  if (!all) return;
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("input[data-select-row]")); };
  all.hidden = false;
  all.addEventListener("change", function () { rows().forEach(function (r) { r.checked = all.checked; }); });
  document.addEventListener("change", function (e) {
    if (!e.target.matches || !e.target.matches("input[data-select-row]")) return;
    var boxes = rows();
    var ticked = boxes.filter(function (r) { return r.checked; }).length;
    all.checked = ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  });
})();

// The create form: the date field and the no-expiry warning show only for their choice, a
// typed date chooses "Custom date…", and the Read only preset ticks the boxes in place.
(function () {
  "use strict";
  var select = document.getElementById("expiry");
  var date = document.getElementById("expiry_date");
  if (select) {
    var sync = function () {
      document.querySelectorAll("[data-expiry-shows]").forEach(function (el) {
        el.hidden = el.getAttribute("data-expiry-shows") !== select.value;
      });
    };
    select.addEventListener("change", sync);
    if (date) date.addEventListener("change", function () { if (date.value) { select.value = "custom"; sync(); } });
    sync();
  }
  var preset = document.querySelector("[data-read-only]");
  if (preset) {
    preset.addEventListener("click", function (e) {
      e.preventDefault();
      var ids = preset.getAttribute("data-read-only").split(" ");
      preset.form.querySelectorAll("input[name=permissions]").forEach(function (box) {
        box.checked = ids.indexOf(box.value) !== -1;
      });
      var full = document.getElementById("full_access");
      if (full) full.checked = false;
    });
  }
})();
