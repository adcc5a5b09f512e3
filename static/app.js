/* The page frame: on a narrow screen the main menu folds behind the menu button (the
   button is shown only when this script runs, so without it the menu simply wraps). */
(function () {
  "use strict";
  var button = document.querySelector("[data-menu-button]");
  var menu = document.getElementById("topmenu");
  if (!button || !menu) { return; }
  document.documentElement.classList.add("has-menu");
  button.hidden = false;

  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("open", open);
  }

  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && menu.classList.contains("open")) {
      setOpen(false);
      button.focus();
    }
  });
})();
