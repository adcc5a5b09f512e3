/* The customer-book import page: while the import request runs, the button is disabled
   and a progress bar is shown (the page works the same without JavaScript). */
(function () {
  "use strict";
  var form = document.querySelector("[data-import-form]");
  if (!form) { return; }
  form.addEventListener("submit", function () {
    var bar = form.querySelector("[data-import-progress]");
    var button = form.querySelector("button[type=submit]");
    if (bar) { bar.hidden = false; }
    if (button) {
      // A disabled button is not sent: keep its name in a hidden field.
      var marker = document.createElement("input");
      marker.type = "hidden";
      marker.name = button.name;
      marker.value = button.value;
      form.appendChild(marker);
      button.disabled = true;
    }
  });
}());
