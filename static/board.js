/* The board's enhancements: drag a card to a column, or use its "Move to" menu (by
   keyboard or touch); both post the same form the page already has (no JavaScript needed
   for any move). When the stage's records are missing, the record form opens in a dialog;
   once it is saved and complete the card moves. On a card's name the arrow keys go to the
   card above or below and to the column before or after; every move and refusal is said
   in a live region for screen readers. */
(function () {
  "use strict";
  var board = document.querySelector("[data-board]");
  if (!board) { return; }
  var recordDialog = document.getElementById("record-dialog");
  var dialogBody = recordDialog.querySelector("[data-dialog-body]");
  var reasonDialog = document.getElementById("reason-dialog");
  var toastBox = document.querySelector("[data-toast]");
  var dragged = null;
  var toastTimer = null;
  var announcer = document.createElement("div");
  announcer.className = "visually-hidden";
  announcer.setAttribute("aria-live", "polite");
  announcer.setAttribute("data-testid", "announcer");
  document.body.appendChild(announcer);
  // The announcer speaks for the toast, which would otherwise say everything twice.
  toastBox.removeAttribute("role");
  toastBox.removeAttribute("aria-live");

  function announce(message) {
    // Emptied first, so the same words twice are said twice.
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = message; }, 50);
  }

  function toast(message, isError) {
    if (!message) { return; }
    announce(message);
    toastBox.textContent = message;
    toastBox.classList.toggle("error", !!isError);
    toastBox.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toastBox.hidden = true; }, 5000);
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        throw new Error(response.status + " " + response.statusText);
      }
      return response.json();
    }).then(function (data) {
      // An error the app answers for every page (an expired form token, a page gone):
      // the JSON error envelope, shown like a refused move.
      if (data && data.error) { return { ok: false, message: data.error.message }; }
      return data;
    });
  }

  function targets(card) {
    var select = card.querySelector("select[name=to]");
    if (!select) { return []; }
    return Array.prototype.map.call(select.options, function (o) { return o.value; });
  }

  function column(stage) {
    return board.querySelector('.column[data-stage="' + stage + '"]');
  }

  function bump(stage, delta) {
    var col = column(stage);
    var count = col && col.querySelector("[data-count]");
    if (count) { count.textContent = String(parseInt(count.textContent, 10) + delta); }
  }

  function placeCard(oldCard, data) {
    var from = oldCard.getAttribute("data-stage");
    var list = column(data.stage).querySelector(".cards");
    var holder = document.createElement("ol");
    holder.innerHTML = data.card.trim();
    var fresh = holder.firstElementChild;
    oldCard.remove();
    list.insertBefore(fresh, list.firstElementChild);
    fresh.classList.add("moved");
    bump(from, -1);
    bump(data.stage, 1);
    var select = fresh.querySelector("select[name=to]");
    (select || fresh.querySelector("a")).focus();
    toast(data.message);
  }

  function moveCard(card, target, reason) {
    var form = card.querySelector("form.move-form");
    var body = new FormData(form);
    body.set("to", target);
    if (reason) { body.set("reason", reason); }
    return post(form.action, body).then(function (data) {
      if (data.ok) { placeCard(card, data); return; }
      if (data.need_reason) { askReason(card, target); return; }
      if (data.need_record) { openRecord(card, data.form_url, data.message); return; }
      toast(data.message, true);
    }).catch(function (err) { toast(String(err), true); });
  }

  function askReason(card, target) {
    var text = reasonDialog.querySelector("textarea");
    text.value = "";
    reasonDialog.returnValue = "";
    reasonDialog.showModal();
    text.focus();
    reasonDialog.addEventListener("close", function onClose() {
      reasonDialog.removeEventListener("close", onClose);
      if (reasonDialog.returnValue === "ok" && text.value.trim()) {
        moveCard(card, target, text.value.trim());
      }
    });
  }

  function showInDialog(html) {
    dialogBody.innerHTML = html;
    if (!recordDialog.open) { recordDialog.showModal(); }
    var first = dialogBody.querySelector(".has-error input, .has-error select, .has-error textarea")
      || dialogBody.querySelector("input:not([type=hidden]), select, textarea");
    if (first) { first.focus(); }
  }

  function openRecord(card, url, message) {
    recordDialog.dataset.cardId = card.getAttribute("data-id");
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.text(); })
      .then(function (html) { showInDialog(html); toast(message); })
      .catch(function (err) { toast(String(err), true); });
  }

  // Saving the record form inside the dialog.
  recordDialog.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.record-form")) { return; }
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    post(form.action, new FormData(form)).then(function (data) {
      if (data.ok && data.moved) {
        var card = document.getElementById("card-" + recordDialog.dataset.cardId);
        recordDialog.close();
        if (card) { placeCard(card, data); } else { toast(data.message); }
        return;
      }
      if (data.html) { showInDialog(data.html); }
      toast(data.message, !data.ok);
    }).catch(function (err) {
      toast(String(err), true);
    }).finally(function () { if (button) { button.disabled = false; } });
  });
  recordDialog.querySelector("[data-dialog-close]").addEventListener("click", function () {
    recordDialog.close();
  });

  // The keyboard path: the card's own "Move to" form.
  board.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.move-form")) { return; }
    event.preventDefault();
    var card = form.closest(".kcard");
    moveCard(card, form.querySelector("select[name=to]").value);
  });

  // "Show more" loads the column's next cards in place.
  board.addEventListener("click", function (event) {
    var link = event.target.closest("[data-more]");
    if (!link) { return; }
    event.preventDefault();
    fetch(link.getAttribute("data-fragment"), {
      credentials: "same-origin", headers: { "X-Requested-With": "fetch" }
    }).then(function (r) { return r.text(); }).then(function (html) {
      var item = link.closest("li");
      item.insertAdjacentHTML("afterend", html);
      item.remove();
    }).catch(function (err) { toast(String(err), true); });
  });

  // The keyboard: arrows on a card's name (or a column's heading) go between cards and
  // columns.
  function columns() { return Array.prototype.slice.call(board.querySelectorAll(".column")); }

  function focusColumn(col) {
    var first = col.querySelector(".kcard .kcard-name");
    var target = first || col.querySelector(".column-head h2");
    if (!first) { target.setAttribute("tabindex", "-1"); }
    target.focus();
    col.scrollIntoView({ block: "nearest", inline: "start" });
  }

  board.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    var here = event.target;
    if (!here.matches || !here.matches(".kcard-name, .column-head h2")) { return; }
    var col = here.closest(".column");
    var all = columns();
    var i = all.indexOf(col);
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      var next = all[i + (event.key === "ArrowRight" ? 1 : -1)];
      if (next) { event.preventDefault(); focusColumn(next); }
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var names = Array.prototype.slice.call(col.querySelectorAll(".kcard .kcard-name"));
      var j = names.indexOf(here);
      var to = event.key === "ArrowDown" ? names[j + 1] : (j > 0 ? names[j - 1] : null);
      if (to) { event.preventDefault(); to.focus(); }
    }
  });

  // Dragging.
  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".kcard[draggable=true]");
    if (!card) { return; }
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-id"));
  });
  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    board.querySelectorAll(".drop-ok, .drop-no").forEach(function (c) {
      c.classList.remove("drop-ok", "drop-no");
    });
  });
  board.addEventListener("dragover", function (event) {
    var col = event.target.closest(".column");
    if (!col || !dragged) { return; }
    var ok = targets(dragged).indexOf(col.getAttribute("data-stage")) !== -1;
    var other = col.getAttribute("data-stage") !== dragged.getAttribute("data-stage");
    col.classList.toggle("drop-ok", ok);
    col.classList.toggle("drop-no", !ok && other);
    // A column the card may not go to still takes the drop, so the refusal is said.
    if (other) { event.preventDefault(); event.dataTransfer.dropEffect = "move"; }
  });
  board.addEventListener("dragleave", function (event) {
    var col = event.target.closest(".column");
    if (col && !col.contains(event.relatedTarget)) { col.classList.remove("drop-ok", "drop-no"); }
  });
  board.addEventListener("drop", function (event) {
    var col = event.target.closest(".column");
    if (!col || !dragged) { return; }
    event.preventDefault();
    col.classList.remove("drop-ok", "drop-no");
    var card = dragged;
    var target = col.getAttribute("data-stage");
    // Any other column is asked for: the app moves the card or says why it cannot.
    if (target !== card.getAttribute("data-stage")) { moveCard(card, target); }
  });
})();
